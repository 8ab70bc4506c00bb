// A D1-backed fixed-window limiter (one row per key): public endpoints, and
// password checks (sign-ins per IP, password changes per agent; rate-limit.ts).
import type { Env } from "../env";
import { ApiError } from "../http/errors";

export interface LimitOptions {
  now?: number;
  /** The 429's message. */
  message?: string;
}

export async function limit(env: Env, key: string, max: number, windowMs: number, { now = Date.now(), message = "Too many requests. Slow down." }: LimitOptions = {}): Promise<void> {
  const windowStart = now - (now % windowMs);
  // One statement: start a new window or count into the current one.
  const row = await env.DB.prepare(
    `INSERT INTO rate_limits (key, window_start, count) VALUES (?1, ?2, 1)
     ON CONFLICT(key) DO UPDATE SET count = CASE WHEN window_start = ?2 THEN count + 1 ELSE 1 END, window_start = ?2
     RETURNING count`,
  )
    .bind(key, windowStart)
    .first<{ count: number }>();
  if ((row?.count ?? 0) > max) {
    throw new ApiError(429, "rate_limited", message, undefined, { "Retry-After": String(Math.ceil((windowStart + windowMs - now) / 1000)) });
  }
}

/** Takes back one request counted by `limit` at `now`, if its window is still the current one. */
export async function refund(env: Env, key: string, windowMs: number, now: number): Promise<void> {
  await env.DB.prepare("UPDATE rate_limits SET count = count - 1 WHERE key = ? AND window_start = ? AND count > 0").bind(key, now - (now % windowMs)).run();
}
