// A D1-backed fixed-window limiter for public endpoints (one row per key).
import type { Env } from "../env";
import { ApiError } from "../http/errors";

export async function limit(env: Env, key: string, max: number, windowMs: number, now = Date.now()): Promise<void> {
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
    throw new ApiError(429, "rate_limited", "Too many requests. Slow down.", undefined, { "Retry-After": String(Math.ceil((windowStart + windowMs - now) / 1000)) });
  }
}
