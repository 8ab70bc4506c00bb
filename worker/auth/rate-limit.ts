// Password throttling. Sign-in: 10 failed attempts per (IP, email) in 15
// minutes → 429; and, since every attempt costs a password hash whatever the
// email, 30 per IP in 10 minutes. Password change: 10 per agent in 10 minutes.
import type { Env } from "../env";
import { ApiError } from "../http/errors";
import { limit, refund } from "./fixed-window";

interface Budget {
  key: string;
  max: number;
  windowMs: number;
  message: string;
}

export const signInsFrom = (ip: string): Budget => ({
  key: `login-ip:${ip}`,
  max: 30,
  windowMs: 10 * 60 * 1000,
  message: "Too many sign-in attempts from your network. Try again later.",
});

export const passwordChecksOf = (agentId: string): Budget => ({
  key: `password-check:${agentId}`,
  max: 10,
  windowMs: 10 * 60 * 1000,
  message: "Too many wrong passwords. Try again later.",
});

/**
 * Counts a password check before it is hashed (429 once the budget is spent;
 * counted first, so concurrent attempts cannot all slip past). Returns what
 * gives it back when the password was right: only wrong ones use up the budget,
 * so an office signing in from one address is not locked out.
 */
export async function spendAttempt(env: Env, budget: Budget, now = Date.now()): Promise<() => Promise<void>> {
  await limit(env, budget.key, budget.max, budget.windowMs, { now, message: budget.message });
  return () => refund(env, budget.key, budget.windowMs, now);
}

const WINDOW_MS = 15 * 60 * 1000;
const MAX_FAILURES = 10;

export async function assertLoginAllowed(env: Env, key: string, now = Date.now()): Promise<void> {
  const { results } = await env.DB.prepare(
    "SELECT at FROM login_failures WHERE key = ? AND at > ? ORDER BY at ASC LIMIT ?",
  )
    .bind(key, now - WINDOW_MS, MAX_FAILURES)
    .all<{ at: number }>();
  if (results.length >= MAX_FAILURES) {
    const retryAfter = Math.max(1, Math.ceil((results[0].at + WINDOW_MS - now) / 1000));
    throw new ApiError(429, "rate_limited", "Too many failed sign-in attempts. Try again later.", undefined, {
      "Retry-After": String(retryAfter),
    });
  }
}

export async function recordLoginFailure(env: Env, key: string, now = Date.now()): Promise<void> {
  await env.DB.batch([
    env.DB.prepare("INSERT INTO login_failures (key, at) VALUES (?, ?)").bind(key, now),
    // Keep the table small: old failures no longer count.
    env.DB.prepare("DELETE FROM login_failures WHERE at < ?").bind(now - WINDOW_MS),
  ]);
}

export async function clearLoginFailures(env: Env, key: string): Promise<void> {
  await env.DB.prepare("DELETE FROM login_failures WHERE key = ?").bind(key).run();
}
