// One JSON WebSocket that stays up: reconnects with exponential backoff
// (1 s, 2 s, 4 s … 30 s), keeps itself alive with pings, and notices a dead
// connection that never closed. Team and room sockets are both built on it.

export type SocketState = "connecting" | "open" | "waiting" | "stopped";

export const PING_INTERVAL_MS = 30_000;
const MAX_BACKOFF_MS = 30_000;
/** No frame (not even a pong) for this long: the connection is dead even if no close event came. */
const SILENCE_LIMIT_MS = PING_INTERVAL_MS * 2 + 5_000;
/** The runtime answers this exact text without waking the Durable Object (see docs/protocol.md). */
const PING = '{"type":"ping"}';

export const backoffMs = (failures: number) => Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.max(0, failures));

/** ws(s)://<this host><path>, matching the page's scheme. */
export function socketUrl(path: string): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

export interface LiveSocketOptions<In> {
  /** Computed on every attempt, so a room can resume from the last sequence it has. */
  url: () => string;
  onframe: (frame: In) => void;
  onstate?: (state: SocketState) => void;
  /** Called after a failed attempt; `failures` counts attempts since the last good connection. */
  onfailure?: (failures: number) => void;
}

export class LiveSocket<In extends { type: string }, Out> {
  #ws: WebSocket | null = null;
  #failures = 0;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;
  #pingTimer: ReturnType<typeof setInterval> | null = null;
  #lastFrameAt = 0;
  #stopped = true;
  #options: LiveSocketOptions<In>;

  constructor(options: LiveSocketOptions<In>) {
    this.#options = options;
  }

  get isOpen(): boolean {
    return this.#ws?.readyState === WebSocket.OPEN;
  }

  start(): void {
    if (!this.#stopped) return;
    this.#stopped = false;
    addEventListener("online", this.#reconnectNow);
    this.#connect();
  }

  stop(): void {
    this.#stopped = true;
    removeEventListener("online", this.#reconnectNow);
    this.#clearTimers();
    const ws = this.#ws;
    this.#ws = null;
    ws?.close(1000, "closed by the desk");
    this.#options.onstate?.("stopped");
  }

  /** Sends when connected; false when the frame could not go out (the caller decides to queue or report). */
  send(frame: Out): boolean {
    if (!this.#ws || this.#ws.readyState !== WebSocket.OPEN) return false;
    this.#ws.send(JSON.stringify(frame));
    return true;
  }

  #connect(): void {
    this.#options.onstate?.("connecting");
    let ws: WebSocket;
    try {
      ws = new WebSocket(this.#options.url());
    } catch {
      this.#scheduleRetry();
      return;
    }
    this.#ws = ws;
    let opened = false;
    ws.onopen = () => {
      opened = true;
      this.#lastFrameAt = Date.now();
      this.#options.onstate?.("open");
      this.#pingTimer = setInterval(() => this.#keepAlive(ws), PING_INTERVAL_MS);
    };
    ws.onmessage = (event) => {
      this.#lastFrameAt = Date.now();
      // The first frame proves the server accepted us: the backoff starts over.
      this.#failures = 0;
      if (typeof event.data !== "string") return;
      let frame: In;
      try {
        frame = JSON.parse(event.data) as In;
      } catch {
        return;
      }
      if (frame.type === "pong") return;
      this.#options.onframe(frame);
    };
    ws.onclose = () => {
      if (this.#ws !== ws) return; // replaced or stopped
      this.#ws = null;
      this.#clearTimers();
      if (!opened) this.#options.onfailure?.(this.#failures + 1);
      this.#scheduleRetry();
    };
  }

  #keepAlive(ws: WebSocket): void {
    if (Date.now() - this.#lastFrameAt > SILENCE_LIMIT_MS) {
      ws.close(4000, "no answer to pings");
      this.#ws = null;
      this.#clearTimers();
      this.#scheduleRetry();
      return;
    }
    if (ws.readyState === WebSocket.OPEN) ws.send(PING);
  }

  #scheduleRetry(): void {
    if (this.#stopped) return;
    this.#options.onstate?.("waiting");
    const delay = backoffMs(this.#failures);
    this.#failures++;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (!this.#stopped) this.#connect();
    }, delay);
  }

  /** The browser is back online: skip the rest of the backoff. */
  #reconnectNow = () => {
    if (this.#stopped || this.#ws || !this.#retryTimer) return;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    this.#connect();
  };

  #clearTimers(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    if (this.#pingTimer) clearInterval(this.#pingTimer);
    this.#retryTimer = null;
    this.#pingTimer = null;
  }
}
