// Login throttling: 10 failed attempts per (IP, email) in 15 minutes → 429.
import type { Env } from "../env";
import { ApiError } from "../http/errors";

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
