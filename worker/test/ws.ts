// A test client for room and hub sockets: collects frames, waits for the one you need.
import { exports } from "cloudflare:workers";
import { ORIGIN } from "./helpers";

export interface TestSocket {
  ws: WebSocket;
  frames: any[];
  send(frame: unknown): void;
  /** Resolves with the first frame (already received or future) matching `match`, after index `from`. */
  next(match: (f: any) => boolean, from?: number, timeoutMs?: number): Promise<any>;
  /** Frames of one type seen so far. */
  all(type: string): any[];
  close(): Promise<void>;
}

export async function openSocket(path: string, headers: Record<string, string> = {}): Promise<TestSocket> {
  const res = await exports.default.fetch(new Request(`${ORIGIN}${path}`, { headers: { upgrade: "websocket", ...headers } }));
  if (res.status !== 101 || !res.webSocket) throw new Error(`upgrade ${path} → ${res.status} ${await res.text()}`);
  return collectFrames(res.webSocket);
}

/** Accepts the client end of a socket and records every frame it receives. */
export function collectFrames(ws: WebSocket): TestSocket {
  const frames: any[] = [];
  const waiters: { match: (f: any) => boolean; from: number; resolve: (f: any) => void }[] = [];
  let closed: () => void = () => {};
  const closedP = new Promise<void>((r) => (closed = r));
  const record = (frame: any) => {
    frames.push(frame);
    for (const w of [...waiters]) {
      if (frames.length - 1 >= w.from && w.match(frame)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(frame);
      }
    }
  };
  ws.addEventListener("message", (e) => {
    const frame = JSON.parse(e.data as string);
    record(frame);
    // Tests look for messages one by one: a replay chunk is also recorded as its messages, marked `replayed`.
    if (frame.type === "replay") for (const message of frame.messages) record({ type: "message", message, replayed: true });
    // Likewise a hub's batch of list deltas, marked `batched`.
    if (frame.type === "changes") {
      for (const conversation of frame.conversations) record({ type: "conversation", conversation, batched: true });
      for (const conversationId of frame.removed) record({ type: "removed", conversationId, batched: true });
    }
  });
  ws.addEventListener("close", () => closed());
  ws.accept();
  return {
    ws,
    frames,
    send: (frame) => ws.send(typeof frame === "string" || frame instanceof Uint8Array ? frame : JSON.stringify(frame)),
    next(match, from = 0, timeoutMs = 4000) {
      const found = frames.slice(from).find(match);
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no matching frame; got ${JSON.stringify(frames.slice(-5))}`)), timeoutMs);
        waiters.push({ match, from, resolve: (f) => (clearTimeout(timer), resolve(f)) });
      });
    },
    all: (type) => frames.filter((f) => f.type === type),
    async close() {
      ws.close(1000);
      await Promise.race([closedP, new Promise((r) => setTimeout(r, 200))]);
    },
  };
}

export const isMessage = (body: string) => (f: any) => f.type === "message" && f.message.body === body;
export const isEvent = (event: string) => (f: any) => f.type === "message" && f.message.kind === "event" && f.message.data?.event === event;
