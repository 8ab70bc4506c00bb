// Client-side plumbing shared by every scenario: opening many sockets with a
// bounded concurrency, closing them, percentiles. The client is Node's own
// WebSocket (undici), which takes a `headers` option for the session cookie.
import { performance } from "node:perf_hooks";

export const now = () => performance.now();
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Opens a socket and resolves once it is ready: at `open`, or, when `ready`
 * is given, at the first frame for which ready(frame) is true (the room's
 * `live`). Frames go to onFrame(data, receivedAt) from the first one on.
 */
export function openSocket(url, { headers, onFrame, ready, timeoutMs = 15_000 } = {}) {
  return new Promise((resolve, reject) => {
    const startedAt = now();
    const ws = new WebSocket(url, headers ? { headers } : undefined);
    let settled = false;
    const timer = setTimeout(() => fail(new Error(`socket ${redact(url)} not ready after ${timeoutMs} ms`)), timeoutMs);
    const done = (openedAt) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve({ ws, startedAt, openedAt, readyAt: now() });
    };
    function fail(err) {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      try {
        ws.close();
      } catch {
        // never opened
      }
      reject(err);
    }
    let openedAt = null;
    ws.addEventListener("open", () => {
      openedAt = now();
      if (!ready) done(openedAt);
    });
    ws.addEventListener("message", (event) => {
      const at = now();
      onFrame?.(event.data, at);
      if (ready && !settled && ready(event.data)) done(openedAt);
    });
    ws.addEventListener("error", () => fail(new Error(`socket ${redact(url)} failed to open`)));
    ws.addEventListener("close", (event) => fail(new Error(`socket ${redact(url)} closed before ready (${event.code} ${event.reason})`)));
  });
}

/** Visitor tokens ride in the query string; they are not for logs. */
const redact = (url) => url.replace(/token=[^&]+/, "token=…");

/** Runs fn over items with at most `limit` at a time; results in input order. */
export async function mapLimit(items, limit, fn) {
  const out = new Array(items.length);
  let next = 0;
  const workers = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  });
  await Promise.all(workers);
  return out;
}

/** Closes sockets and waits (bounded) for their close events. */
export async function closeAll(sockets, timeoutMs = 5_000) {
  const closed = sockets.map(
    (ws) =>
      new Promise((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.addEventListener("close", () => resolve(), { once: true });
        try {
          ws.close(1000);
        } catch {
          resolve();
        }
      }),
  );
  await Promise.race([Promise.all(closed), sleep(timeoutMs)]);
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted, p) {
  if (!sorted.length) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

/** Polls until check() is true or the deadline passes; returns whether it became true. */
export async function waitFor(check, timeoutMs, stepMs = 25) {
  const deadline = now() + timeoutMs;
  while (now() < deadline) {
    if (check()) return true;
    await sleep(stepMs);
  }
  return check();
}

export const round = (x, digits = 2) => (x === null || x === undefined || Number.isNaN(x) ? null : Number(x.toFixed(digits)));
