// One conversation room as the desk holds it: the socket, the messages by
// sequence number, read pointers, typing, and sends waiting for their echo.
// Resuming is lossless: a reconnect asks for everything after the highest
// sequence held, and a send not yet echoed goes again with the same client
// id (the room stores it once).
import type { z } from "zod";
import { api, ApiError, reportUnauthorized } from "../api";
import { showToast } from "../components/toasts.svelte";
import { type AttachmentRef, type Conversation, deliveryRank, roomClientFrame, type RoomMessage, type RoomServerFrame } from "../protocol";
import { LiveSocket, type SocketState, socketUrl } from "./live-socket";

/** What the desk sends: the frame before the schema's defaults are applied. */
export type RoomCommand = z.input<typeof roomClientFrame>;

export interface PendingSend {
  clientId: string;
  kind: "text" | "note";
  body: string;
  attachments: AttachmentRef[];
  mentions: string[];
  createdAt: number;
  /** Refused by the room (shown with Retry / Discard); null while on its way. */
  error: string | null;
}

export interface TypingPerson {
  key: string;
  name: string;
  kind: "visitor" | "agent";
  until: number;
}

/** The other side repeats "typing" at most every second or so; silence this long means they stopped. */
const TYPING_TTL_MS = 6000;
const TYPING_RESEND_MS = 3000;
const HISTORY_PAGE = 50;

export function newClientId(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID().replaceAll("-", "");
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export class RoomSession {
  readonly roomId: string;
  readonly me: string;
  conversation = $state.raw<Conversation | null>(null);
  /** Sorted by seq, no duplicates. */
  messages = $state.raw<RoomMessage[]>([]);
  reads = $state<Record<string, number>>({});
  typing = $state.raw<TypingPerson[]>([]);
  pending = $state.raw<PendingSend[]>([]);
  hasMore = $state(false);
  loadingHistory = $state(false);
  state = $state<SocketState>("stopped");
  /** The first welcome arrived. */
  loaded = $state(false);
  /** The room refused us for good (no access, gone). */
  refused = $state("");

  #bySeq = new Map<number, RoomMessage>();
  #replaying = false;
  #socket: LiveSocket<RoomServerFrame, RoomCommand>;
  #watchers = 0;
  #typingTimer: ReturnType<typeof setTimeout> | null = null;
  #typingSentAt = 0;

  constructor(roomId: string, me: string) {
    this.roomId = roomId;
    this.me = me;
    this.#socket = new LiveSocket<RoomServerFrame, RoomCommand>({
      url: () => socketUrl(`/ws/room/${encodeURIComponent(roomId)}?after=${this.lastSeq}`),
      onframe: (frame) => this.#onFrame(frame),
      onstate: (state) => (this.state = state),
      onfailure: (failures) => {
        if (failures >= 2) void this.#checkAccess();
      },
    });
  }

  get lastSeq(): number {
    return this.messages.at(-1)?.seq ?? 0;
  }

  get connected(): boolean {
    return this.state === "open";
  }

  /** Someone shows this room: connect (or stay connected). */
  open(): void {
    this.#watchers++;
    this.refused = "";
    this.#socket.start();
  }

  /** Nobody shows it any more: disconnect, unless a send still waits for its echo. Messages stay cached. */
  release(): void {
    this.#watchers = Math.max(0, this.#watchers - 1);
    this.#stopIfIdle();
  }

  dispose(): void {
    this.#watchers = 0;
    this.pending = [];
    this.#socket.stop();
  }

  // ───────────── commands ─────────────

  /** Validates with the protocol schema and sends; reports why not when it cannot. */
  command(frame: RoomCommand): boolean {
    const checked = roomClientFrame.safeParse(frame);
    if (!checked.success) {
      showToast(checked.error.issues[0]?.message ?? "That command is not valid.");
      return false;
    }
    if (this.#socket.send(frame)) return true;
    showToast("Not connected to this conversation right now; try again in a moment.");
    return false;
  }

  /** Queues a message; it goes now if connected, else right after the reconnect. Returns an error to show, or null. */
  sendMessage(kind: "text" | "note", body: string, attachments: AttachmentRef[], mentions: string[] = []): string | null {
    const clientId = newClientId();
    const frame: RoomCommand = { type: "send", clientId, kind, body, attachments, mentions };
    const checked = roomClientFrame.safeParse(frame);
    if (!checked.success) return checked.error.issues[0]?.message ?? "This message cannot be sent.";
    this.pending = [...this.pending, { clientId, kind, body, attachments, mentions, createdAt: Date.now(), error: null }];
    this.#socket.send(frame);
    if (kind === "text") this.setTyping(false);
    return null;
  }

  retry(clientId: string): void {
    const p = this.pending.find((x) => x.clientId === clientId);
    if (!p) return;
    this.pending = this.pending.map((x) => (x.clientId === clientId ? { ...x, error: null } : x));
    this.#socket.send(this.#frameOf(p));
  }

  discard(clientId: string): void {
    this.pending = this.pending.filter((x) => x.clientId !== clientId);
    this.#stopIfIdle();
  }

  /** Typing indicator to the customer, repeated while typing and cleared on send or blur. */
  setTyping(on: boolean): void {
    const now = Date.now();
    if (on && now - this.#typingSentAt < TYPING_RESEND_MS) return;
    if (!on && !this.#typingSentAt) return;
    if (this.#socket.send({ type: "typing", on }) || !on) this.#typingSentAt = on ? now : 0;
  }

  /** Read up to `seq` (what is on screen); only forward moves are sent. */
  markRead(seq: number): void {
    if (seq <= (this.reads[this.me] ?? 0)) return;
    // Not connected: leave the pointer, so the next look after the reconnect sends it.
    if (this.#socket.send({ type: "read", seq })) this.reads[this.me] = seq;
  }

  loadEarlier(): void {
    const first = this.messages[0]?.seq;
    if (!first || this.loadingHistory || !this.hasMore) return;
    if (this.#socket.send({ type: "history", before: first, limit: HISTORY_PAGE })) this.loadingHistory = true;
  }

  // ───────────── frames ─────────────

  #onFrame(frame: RoomServerFrame): void {
    switch (frame.type) {
      case "welcome": {
        // A room that has fewer messages than we hold was reset, or we missed more than a resume
        // carries (hasMore on a resume: a gap before replayFrom): start over from what comes.
        if (frame.lastSeq < this.lastSeq || (this.messages.length && frame.hasMore)) this.#clear();
        const fresh = !this.messages.length;
        this.conversation = frame.conversation;
        this.reads = { ...frame.reads };
        if (fresh) this.hasMore = frame.hasMore;
        this.#replaying = true;
        this.loaded = true;
        return;
      }
      case "message":
        this.#add(frame.message);
        return;
      case "replay":
        for (const m of frame.messages) this.#add(m);
        return;
      case "live":
        this.#replaying = false;
        this.#rebuild();
        // Sends that never got their echo go again; the room dedupes by client id.
        for (const p of this.pending) if (!p.error) this.#socket.send(this.#frameOf(p));
        return;
      case "history":
        for (const m of frame.messages) this.#bySeq.set(m.seq, m);
        this.#rebuild();
        this.hasMore = frame.hasMore;
        this.loadingHistory = false;
        return;
      case "conversation":
        this.conversation = frame.conversation;
        return;
      case "typing": {
        if (frame.who.kind === "agent" && frame.who.id === this.me) return;
        const key = `${frame.who.kind}:${frame.who.id}`;
        const others = this.typing.filter((t) => t.key !== key);
        const name = frame.who.name ?? (frame.who.kind === "visitor" ? "The visitor" : "An agent");
        this.typing = frame.on ? [...others, { key, name, kind: frame.who.kind, until: Date.now() + TYPING_TTL_MS }] : others;
        this.#scheduleTypingExpiry();
        return;
      }
      case "read":
        if ((this.reads[frame.reader] ?? 0) < frame.seq) this.reads[frame.reader] = frame.seq;
        return;
      case "delivery": {
        const m = this.#bySeq.get(frame.seq);
        if (!m || deliveryRank(frame.status) <= deliveryRank(m.deliveryStatus)) return;
        const data = frame.error ? { ...(m.data ?? {}), deliveryError: frame.error } : m.data;
        this.#add({ ...m, deliveryStatus: frame.status, data });
        return;
      }
      case "error": {
        if (frame.clientId && this.pending.some((p) => p.clientId === frame.clientId)) {
          this.pending = this.pending.map((p) => (p.clientId === frame.clientId ? { ...p, error: frame.message } : p));
          return;
        }
        if (this.loadingHistory) this.loadingHistory = false;
        showToast(frame.message);
        return;
      }
    }
  }

  #add(m: RoomMessage): void {
    const existing = this.#bySeq.get(m.seq);
    this.#bySeq.set(m.seq, m);
    if (m.clientId && this.pending.some((p) => p.clientId === m.clientId)) {
      this.pending = this.pending.filter((p) => p.clientId !== m.clientId);
      this.#stopIfIdle();
    }
    if (this.#replaying) return; // the whole replay is sorted once, at `live`
    if (existing) this.messages = this.messages.map((x) => (x.seq === m.seq ? m : x));
    else if (m.seq > this.lastSeq) this.messages = [...this.messages, m];
    else this.#rebuild();
  }

  #rebuild(): void {
    this.messages = [...this.#bySeq.values()].sort((a, b) => a.seq - b.seq);
  }

  #clear(): void {
    this.#bySeq.clear();
    this.messages = [];
    this.hasMore = false;
  }

  #frameOf(p: PendingSend): RoomCommand {
    return { type: "send", clientId: p.clientId, kind: p.kind, body: p.body, attachments: p.attachments, mentions: p.mentions };
  }

  #stopIfIdle(): void {
    if (this.#watchers === 0 && !this.pending.some((p) => !p.error)) this.#socket.stop();
  }

  #scheduleTypingExpiry(): void {
    if (this.#typingTimer) clearTimeout(this.#typingTimer);
    if (!this.typing.length) return;
    const next = Math.min(...this.typing.map((t) => t.until));
    this.#typingTimer = setTimeout(() => {
      const now = Date.now();
      this.typing = this.typing.filter((t) => t.until > now);
      this.#scheduleTypingExpiry();
    }, Math.max(50, next - Date.now()));
  }

  /** The upgrade keeps failing: ask over HTTP why (a socket cannot see the status). */
  async #checkAccess(): Promise<void> {
    try {
      await api.room(this.roomId);
    } catch (err) {
      if (!(err instanceof ApiError)) return;
      if (err.status === 401) return reportUnauthorized();
      if (err.status === 403 || err.status === 404) {
        this.refused = err.message;
        this.#socket.stop();
      }
    }
  }
}

// ───────────── cache ─────────────

/** Rooms opened in this tab keep their messages, so coming back only fetches what is new. */
const MAX_CACHED = 30;
const cache = new Map<string, RoomSession>();

export function roomSession(roomId: string, me: string): RoomSession {
  let room = cache.get(roomId);
  if (room && room.me !== me) {
    room.dispose();
    room = undefined;
  }
  if (room) {
    cache.delete(roomId); // re-insert: most recently used last
  } else {
    room = new RoomSession(roomId, me);
  }
  cache.set(roomId, room);
  for (const [id, old] of cache) {
    if (cache.size <= MAX_CACHED) break;
    if (old !== room && !old.pending.length) {
      old.dispose();
      cache.delete(id);
    }
  }
  return room;
}

export function disposeRooms(): void {
  for (const room of cache.values()) room.dispose();
  cache.clear();
}
