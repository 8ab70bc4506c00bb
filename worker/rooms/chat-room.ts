import { DurableObject } from "cloudflare:workers";
import type { Env } from "../env";
import { currentAccount } from "../auth/session";
import { type AgentIdentity, type Identity, identityFrom, isTeamMember, SESSION_HEADER } from "../identity";
import { clientIdSchema, type QueueStatus, type RoomClientFrame, roomClientFrame, type RoomMessage, type RoomServerFrame, VISITOR_COMMANDS } from "../protocol";
import type { ConversationSummary } from "../protocol";
import type { RequeueReason } from "../teams/rooms-port";
import type { TeamHub } from "../teams/team-hub";
import type { AssignRequest, AssignResult, RoomAddress } from "../rpc";
import { Timers } from "../timers";
import { flushArchive } from "./archive";
import { ConversationFlow, type RoomHost } from "./conversation-flow";
import { canSee } from "./room-access";
import { RoomError } from "./room-errors";
import { loadRoomSettings, type RoomSettings } from "./room-settings";
import { RoomStore } from "./room-store";
import { buildSummary } from "./summary";

/** Frames above this size are refused before parsing (16 KB text + JSON overhead + attachment refs). */
const MAX_FRAME_BYTES = 64 * 1024;
/** A fresh client (after=0) gets this many recent messages; older ones through `history`. */
const BACKLOG = 100;
/** A resuming client gets everything it missed, up to this many (then it pages with `history`). */
const MAX_REPLAY = 5000;
/** Messages per `replay` frame: a 1,000-message resume is 5 frames, not 1,000. */
const REPLAY_CHUNK = 200;
/**
 * Room → hub activity (previews, read pointers, waiting times) is coalesced to
 * at most one update per this interval; state changes go at once. At 250 ms a
 * chatty room sent the hub about one update per message (bench: 9.8 → 5.6 ms
 * of runtime CPU per message at 1 s).
 */
const HUB_SYNC_MS = 1000;
/** A state change's push is checked this long after it left (see syncHub); a failed one is retried as soon. */
const HUB_RETRY_MS = 2000;
/**
 * The archive is written to D1 about this long after the first unflushed
 * message: one batch per room per few seconds of activity, not a D1 write per
 * message. Each delay is stretched by up to FLUSH_JITTER (never shortened) so
 * rooms that got busy together do not all write at the same moment. Closing
 * flushes at once, so the archive of a closed conversation is never late.
 */
const FLUSH_DELAY_MS = 5000;
const FLUSH_JITTER = 0.4;
const TYPING_THROTTLE_MS = 1000;
/**
 * An agent socket's identity (account, role, teams) is re-read from D1 once it
 * is this old and the socket sends or is sent anything (see deliver): a
 * demotion, a removal from the team or a disabled account takes effect within
 * it, on a socket that only listens too, not at the next reconnect.
 */
const IDENTITY_TTL_MS = 60_000;
/** After a failed identity read (D1 unreachable), the next try comes this soon. */
const IDENTITY_RETRY_MS = 5_000;
/** Asked for the queue place again within this long, with the conversation unchanged, the room answers from the last hub answer. */
const QUEUE_ASK_MS = 5000;
const SETTINGS_TTL_MS = 60_000;

/** A summary push a team's hub did not get (see pushToHub). */
interface HubDebt {
  teamId: string;
  conversationId: string;
}

interface SocketState {
  identity: Identity;
  typingAt: number;
  /** When an agent's identity was last read from D1 (kept in the attachment, so it survives hibernation). */
  checkedAt: number;
  /** The desk session the agent's socket was opened with (null: unknown); once it has ended, the socket is let go. */
  session: string | null;
  refreshing: Promise<void> | null;
  /** Frames for an agent socket while its identity is re-read: sent in order if it still may see them. */
  held: string[] | null;
}

/** What a room socket carries through hibernation (namespaced: nothing else on the socket can overwrite it). */
interface RoomAttachment {
  edgedesk: { identity: Identity; checkedAt?: number; session?: string | null };
}

/** One per (inbox, contact): the live conversation, its messages and its timers. */
export class ChatRoom extends DurableObject<Env> implements RoomHost {
  readonly store: RoomStore;
  readonly timers: Timers;
  readonly flow: ConversationFlow;
  /** Socket attachments deserialized once per socket per instance. */
  private sockets = new WeakMap<WebSocket, SocketState>();
  private hubPushedAt = 0;
  /** Something the hub shows changed since the last push (a fresh instance does not know: assume so). */
  private hubDirty = true;
  /** A `hubsync` timer is scheduled: the room is ticking. */
  private hubTicking = false;
  private flushPending: boolean | null = null;
  private hubChain: Promise<unknown> = Promise.resolve();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new RoomStore(ctx.storage);
    this.timers = new Timers(ctx.storage, false); // its table is in the room's schema (RoomStore)
    if (this.store.nextTimerAtWake !== undefined) this.timers.woke(this.store.nextTimerAtWake);
    this.flow = new ConversationFlow(this, env);
    // Pings are answered by the runtime without waking the object, so idle rooms hibernate.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('{"type":"ping"}', '{"type":"pong"}'));
  }

  // ───────────── connections ─────────────

  async fetch(request: Request): Promise<Response> {
    const who = identityFrom(request);
    const address = parseAddress(request.headers.get("x-edgedesk-room"));
    if (!who || !address) return json({ error: { code: "forbidden", message: "Missing identity." } }, 403);
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return json({ error: { code: "upgrade_required", message: "Open as a WebSocket." } }, 426);
    if (who.kind === "visitor" && (who.inboxId !== address.inboxId || `${who.inboxId}:${who.contactKey}` !== address.roomId)) {
      return json({ error: { code: "forbidden", message: "This token is for another conversation." } }, 403);
    }
    if (!(await this.mayAccess(who, address))) return json({ error: { code: "forbidden", message: "You cannot open this conversation." } }, 403);
    const after = Math.max(0, Math.floor(Number(new URL(request.url).searchParams.get("after") ?? 0)) || 0);
    const pair = new WebSocketPair();
    const server = pair[1];
    const tags = who.kind === "agent" ? ["agent", `agent:${who.agentId}`] : ["visitor"];
    this.ctx.acceptWebSocket(server, tags);
    const checkedAt = Date.now();
    const session = who.kind === "agent" ? request.headers.get(SESSION_HEADER) : null;
    server.serializeAttachment({ edgedesk: { identity: who, checkedAt, session } } satisfies RoomAttachment);
    this.sockets.set(server, { identity: who, typingAt: 0, checkedAt, session, refreshing: null, held: null });
    if (who.kind === "visitor") this.flow.recordVisitorDetails(request);
    this.welcome(server, who, after);
    if (who.kind === "visitor") this.syncHub();
    return new Response(null, { status: 101, webSocket: pair[0] });
  }

  /** welcome → the messages the client missed → live. Synchronous, so nothing can interleave. */
  private welcome(ws: WebSocket, who: Identity, after: number): void {
    const agent = who.kind === "agent";
    const only = this.readableConversations(who);
    const lastSeq = this.store.lastSeq();
    const from = after > lastSeq ? 0 : after; // a client from a reset room starts over
    let replay: RoomMessage[];
    let hasMore: boolean;
    if (from === 0) {
      replay = this.store.messagesBefore(lastSeq + 1, BACKLOG, agent, only);
      hasMore = replay.length > 0 && this.store.messagesBefore(replay[0].seq, 1, agent, only).length > 0;
    } else {
      replay = this.store.messagesAfter(from, MAX_REPLAY + 1, agent, only);
      hasMore = replay.length > MAX_REPLAY;
      // Missed more than one resume carries: the newest MAX_REPLAY, and the client pages back
      // from replayFrom with `history` for the rest, as a fresh client does. (Replaying the
      // oldest would leave a gap before `live` that `history`, which pages backwards, cannot fill.)
      if (hasMore) replay = this.store.messagesBefore(lastSeq + 1, MAX_REPLAY, agent, only);
    }
    const current = this.store.current();
    this.sendTo(ws, {
      type: "welcome",
      you: agent ? { kind: "agent", id: who.agentId } : { kind: "visitor", id: who.contactKey },
      conversation: current ? this.flow.snapshot(current, !agent) : null,
      lastSeq,
      reads: this.flow.publicReads(agent),
      replayFrom: replay[0]?.seq ?? lastSeq + 1,
      hasMore,
    });
    for (let i = 0; i < replay.length; i += REPLAY_CHUNK) this.sendTo(ws, { type: "replay", messages: replay.slice(i, i + REPLAY_CHUNK) });
    this.sendTo(ws, { type: "live", lastSeq });
  }

  async webSocketMessage(ws: WebSocket, data: string | ArrayBuffer): Promise<void> {
    const state = this.socketState(ws);
    if (!state) return ws.close(1011, "lost identity");
    let frame: RoomClientFrame;
    try {
      frame = parseFrame(data);
    } catch (err) {
      return this.sendError(ws, err, err instanceof RoomError ? err.clientId : undefined);
    }
    try {
      if (state.identity.kind === "visitor" && !VISITOR_COMMANDS.has(frame.type)) throw new RoomError("forbidden", `Visitors cannot ${frame.type}.`);
      // An agent's frame with a stale identity waits for the fresh one: a disabled account or a
      // lost right must not send, read or change anything. Every frame of the socket waits on the
      // same read, so they keep their order.
      const refreshed = this.refreshIdentity(ws, state);
      if (refreshed) {
        await refreshed;
        if (ws.readyState !== WebSocket.OPEN) return; // let go meanwhile
      }
      if (frame.type === "typing") return this.typing(ws, state, frame.on);
      if (frame.type === "queue") return this.sendTo(ws, { type: "queue", ...(await this.queueStatus()) });
      if (frame.type === "history") {
        const agent = state.identity.kind === "agent";
        const only = this.readableConversations(state.identity);
        const messages = this.store.messagesBefore(frame.before, frame.limit, agent, only);
        const hasMore = messages.length > 0 && this.store.messagesBefore(messages[0].seq, 1, agent, only).length > 0;
        return this.sendTo(ws, { type: "history", messages, hasMore });
      }
      const result = await this.flow.run(state.identity, frame);
      // A retried send is answered with the stored message, to the sender only.
      if (result?.duplicate) this.sendTo(ws, { type: "message", message: result.duplicate });
    } catch (err) {
      this.sendError(ws, err, frame.type === "send" ? frame.clientId : undefined);
    }
  }

  async webSocketClose(ws: WebSocket, code: number): Promise<void> {
    const state = this.socketState(ws);
    try {
      ws.close(code === 1005 || code === 1006 ? 1000 : code);
    } catch {
      // already closed
    }
    if (state?.identity.kind === "visitor") {
      this.broadcastTyping(ws, state, false);
      this.syncHub();
    }
  }

  async webSocketError(ws: WebSocket): Promise<void> {
    await this.webSocketClose(ws, 1011);
  }

  private socketState(ws: WebSocket): SocketState | null {
    let state = this.sockets.get(ws);
    if (!state) {
      // After hibernation the map is empty: rebuild from the attachment once.
      const attached = ws.deserializeAttachment() as Partial<RoomAttachment> | null;
      if (!attached?.edgedesk) return null;
      const { identity, checkedAt, session } = attached.edgedesk;
      state = { identity, typingAt: 0, checkedAt: checkedAt ?? 0, session: session ?? null, refreshing: null, held: null };
      this.sockets.set(ws, state);
    }
    return state;
  }

  // ───────────── fan-out ─────────────

  sendTo(ws: WebSocket, frame: RoomServerFrame): void {
    this.deliver(ws, JSON.stringify(frame), Date.now());
  }

  /**
   * Every frame to a socket goes through here. An agent whose identity was
   * last read over IDENTITY_TTL_MS ago gets nothing more until it is read
   * again: frames wait (in order) and go out if the agent may still see the
   * conversation, so a disabled account or a removal from the team stops the
   * flow within a minute even on a socket that only listens.
   */
  private deliver(ws: WebSocket, text: string, now: number): void {
    const state = this.socketState(ws);
    if (state?.identity.kind === "agent" && (state.refreshing || now - state.checkedAt >= IDENTITY_TTL_MS)) {
      (state.held ??= []).push(text);
      void this.refreshIdentity(ws, state);
      return;
    }
    try {
      ws.send(text);
    } catch {
      // closing socket: it will resume from its last sequence
    }
  }

  /**
   * Serialized once, the same string to every socket of the audience. A frame
   * may be passed as a function: it is built only when someone is there to get
   * it (the hub assigns rooms nobody has open).
   */
  broadcast(frame: RoomServerFrame | (() => RoomServerFrame), audience: "all" | "agents" | "visitors" = "all", except?: WebSocket): void {
    const tag = audience === "agents" ? "agent" : audience === "visitors" ? "visitor" : undefined;
    let text: string | null = null;
    const now = Date.now();
    for (const ws of this.ctx.getWebSockets(tag)) {
      if (ws === except) continue;
      text ??= JSON.stringify(typeof frame === "function" ? frame() : frame);
      this.deliver(ws, text, now);
    }
  }

  /**
   * Who may see the conversation can change under open sockets: in a team
   * where agents see only their own chats, someone taking it hides it from the
   * others; a transfer moves it to another team. Agents who may no longer see
   * it are told and disconnected, so nothing said afterwards (notes included)
   * reaches them. Their desk's reconnect is then refused at the door.
   */
  dropAgentsWhoCannotSee(): void {
    for (const ws of this.ctx.getWebSockets("agent")) {
      const who = this.socketState(ws)?.identity;
      if (who?.kind === "agent" && !this.maySee(who)) this.letGo(ws, "You can no longer see this conversation.");
    }
  }

  /** canSee for an open socket, on what the room knows now (true while it does not know enough). */
  private maySee(who: AgentIdentity): boolean {
    const current = this.store.current();
    const address = this.store.address;
    const visibility = this.cachedSettings()?.visibility;
    if (!current || !address || !visibility) return true;
    return canSee(who, current, address.teamId, visibility, this.store.participants(current.id).map((p) => p.id));
  }

  private letGo(ws: WebSocket, message: string): void {
    const state = this.sockets.get(ws);
    if (state) state.held = null; // what waited for the check is not theirs to see
    try {
      ws.send(JSON.stringify({ type: "error", code: "forbidden", message } satisfies RoomServerFrame));
    } catch {
      // already closing
    }
    try {
      ws.close(4403, "no longer allowed");
    } catch {
      // already closing
    }
  }

  /**
   * Re-reads a stale agent socket's identity (see IDENTITY_TTL_MS) and then
   * sends what was held for it, unless the agent was let go; the promise, for
   * frames that must wait for it. Null when nothing needs reading.
   */
  private refreshIdentity(ws: WebSocket, state: SocketState): Promise<void> | null {
    if (state.identity.kind !== "agent") return null;
    if (state.refreshing) return state.refreshing;
    if (Date.now() - state.checkedAt < IDENTITY_TTL_MS) return null;
    const agentId = state.identity.agentId;
    state.refreshing = currentAccount(this.env.DB, agentId)
      .then((account) => {
        state.checkedAt = Date.now();
        if (!account) return this.letGo(ws, "Your account is no longer active.");
        if (state.session && !account.sessionIds.has(state.session)) return this.letGo(ws, "You were signed out: sign in again.");
        const fresh = account.identity;
        state.identity = fresh;
        ws.serializeAttachment({ edgedesk: { identity: fresh, checkedAt: state.checkedAt, session: state.session } } satisfies RoomAttachment);
        if (!this.maySee(fresh)) this.letGo(ws, "You can no longer see this conversation.");
      })
      .catch((err) => {
        // D1 unreachable: keep the identity read a minute ago rather than cut every agent off; try again soon.
        state.checkedAt = Date.now() - IDENTITY_TTL_MS + IDENTITY_RETRY_MS;
        console.error(JSON.stringify({ level: "warn", msg: "agent identity refresh failed", agentId, error: String(err) }));
      })
      .finally(() => {
        state.refreshing = null;
        const held = state.held;
        state.held = null;
        if (held && ws.readyState === WebSocket.OPEN) for (const text of held) this.deliver(ws, text, Date.now());
      });
    return state.refreshing;
  }

  visitorOnline(): boolean {
    return this.ctx.getWebSockets("visitor").length > 0;
  }

  /** The hub's last queue answer, for the conversation at a version (a widget asking often costs the hub one call per QUEUE_ASK_MS). */
  private queueAnswer: { at: number; key: string; status: QueueStatus } | null = null;

  /** Where the current conversation stands in its team's queue; with none waiting, only whether anyone is available. */
  private async queueStatus(fresh = false): Promise<QueueStatus> {
    const current = this.store.current();
    const key = queueKey(current);
    if (!fresh && this.queueAnswer?.key === key && Date.now() - this.queueAnswer.at < QUEUE_ASK_MS) return this.queueAnswer.status;
    const waiting = current?.status === "queued" ? current : null;
    const teamId = current && current.status !== "closed" ? current.team_id : this.address().teamId;
    return this.rememberQueueAnswer(key, await this.hub(teamId).queueStatus(waiting?.id ?? null));
  }

  async agentsAvailable(): Promise<boolean> {
    try {
      return (await this.queueStatus(true)).agentsAvailable;
    } catch (err) {
      console.error(JSON.stringify({ level: "warn", msg: "queue status failed; assuming agents available", error: String(err) }));
      return true;
    }
  }

  /** Keeps a hub answer, as a plain object (an RPC result holds its call open until let go). */
  private rememberQueueAnswer(key: string, answer: QueueStatus): QueueStatus {
    const status: QueueStatus = { position: answer.position, estimatedWaitSeconds: answer.estimatedWaitSeconds, agentsAvailable: answer.agentsAvailable };
    this.queueAnswer = { at: Date.now(), key, status };
    return status;
  }

  private typing(ws: WebSocket, state: SocketState, on: boolean): void {
    const now = Date.now();
    if (on && now - state.typingAt < TYPING_THROTTLE_MS) return;
    state.typingAt = on ? now : 0;
    this.broadcastTyping(ws, state, on);
  }

  private broadcastTyping(ws: WebSocket, state: SocketState, on: boolean): void {
    const who = state.identity;
    const frame: RoomServerFrame =
      who.kind === "agent"
        ? { type: "typing", who: { kind: "agent", id: who.agentId, name: who.name }, on }
        : { type: "typing", who: { kind: "visitor", id: who.contactKey, name: this.store.getMeta<string>("contactName") }, on };
    // A visitor's typing goes to agents; an agent's to everyone else.
    this.broadcast(frame, who.kind === "visitor" ? "agents" : "all", ws);
  }

  private sendError(ws: WebSocket, err: unknown, clientId?: string): void {
    if (err instanceof RoomError) return this.sendTo(ws, { type: "error", code: err.code, message: err.message, ...(clientId ? { clientId } : {}) });
    console.error(JSON.stringify({ level: "error", msg: "room frame failed", error: String((err as Error)?.stack ?? err) }));
    this.sendTo(ws, { type: "error", code: "internal", message: "That did not work; try again.", ...(clientId ? { clientId } : {}) });
  }

  // ───────────── host services for ConversationFlow ─────────────

  address(): RoomAddress {
    const address = this.store.address;
    if (!address) throw new RoomError("not_found", "This room has not been opened yet.");
    return address;
  }

  ensureAddress(address: RoomAddress): void {
    const known = this.store.address;
    if (!known) this.store.setMeta("address", address);
    else if (known.roomId !== address.roomId) throw new Error(`room ${known.roomId} addressed as ${address.roomId}`);
    // The inbox moved to another team: its next conversations start there (a running one stays where it is).
    else if (known.teamId !== address.teamId) this.store.setMeta("address", address);
  }

  /**
   * Inbox and team settings, from meta; refreshed from D1 when stale (never on
   * the per-message path). `forNewConversation`: the inbox's team's settings as
   * they are now (the inbox may have moved), not the current conversation's team's.
   */
  async settings(force = false, forNewConversation = false): Promise<RoomSettings> {
    const cached = this.store.getMeta<RoomSettings>("settings");
    if (cached && !force && Date.now() - cached.loadedAt < SETTINGS_TTL_MS) return cached;
    const address = this.address();
    const teamId = forNewConversation ? null : (this.store.current()?.team_id ?? null);
    // A read for the same team already under way answers this call too: a new room's first
    // burst of messages (each of which asks) costs one D1 read, not one each.
    const key = `${address.inboxId}|${teamId}`;
    if (this.settingsLoading?.key === key) return this.settingsLoading.promise;
    const promise: Promise<RoomSettings> = this.loadSettings(address, teamId, cached).finally(() => {
      if (this.settingsLoading?.promise === promise) this.settingsLoading = null;
    });
    this.settingsLoading = { key, promise };
    return promise;
  }

  private async loadSettings(address: RoomAddress, teamId: string | null, cached: RoomSettings | null): Promise<RoomSettings> {
    try {
      const fresh = await loadRoomSettings(this.env.DB, address.inboxId, teamId);
      this.store.setMeta("settings", fresh);
      if (fresh.inboxTeamId && fresh.inboxTeamId !== address.teamId) this.ensureAddress({ ...address, teamId: fresh.inboxTeamId });
      return fresh;
    } catch (err) {
      if (cached) return cached; // D1 hiccup: keep working on what we know
      throw err;
    }
  }

  /** The settings read from D1 in flight, if any (see settings). */
  private settingsLoading: { key: string; promise: Promise<RoomSettings> } | null = null;

  cachedSettings(): RoomSettings | null {
    return this.store.getMeta<RoomSettings>("settings");
  }

  /**
   * Tells the team hub about the current conversation. State changes (`urgent`)
   * go at once. Activity is coalesced to one push per HUB_SYNC_MS: the first
   * change after a quiet spell goes at once, later ones ride a `hubsync` tick
   * that repeats while the room stays busy. The tick is re-armed from the alarm,
   * so a chatty room's messages never write a timer or move the alarm.
   */
  syncHub(urgent = false, teamIds?: string[]): void {
    this.hubDirty = true;
    if (urgent) {
      // A state change the hub must not miss: if this instance goes away before the hub has it
      // (a deploy mid-call), the tick finds the new instance dirty and pushes it again.
      this.hubTicking = true;
      this.timers.setIfEarlier("hubsync", "hub", Date.now() + HUB_RETRY_MS);
      return this.pushToHub(teamIds);
    }
    if (!this.hubTicking && Date.now() - this.hubPushedAt >= HUB_SYNC_MS) return this.pushToHub(teamIds);
    if (this.hubTicking) return;
    this.hubTicking = true;
    this.timers.set("hubsync", "hub", this.hubPushedAt + HUB_SYNC_MS);
  }

  /** The `hubsync` timer: push what changed and keep ticking, or stop once a whole interval was quiet. */
  private hubTick(): void {
    if (!this.hubDirty) {
      this.hubTicking = false;
      return;
    }
    this.pushToHub();
    this.hubTicking = true;
    this.timers.set("hubsync", "hub", Date.now() + HUB_SYNC_MS);
  }

  /** Pushes the current summary now and resolves once the hub has it (before asking the hub to assign). */
  async hubUpToDate(): Promise<void> {
    this.pushToHub();
    await this.hubChain;
  }

  hub(teamId: string): DurableObjectStub<TeamHub> {
    return this.env.TEAM_HUB.get(this.env.TEAM_HUB.idFromName(teamId));
  }

  /** The current summary with the next version, counted as pushed (the caller hands it to the hub). */
  summaryForHub(): ConversationSummary | null {
    const current = this.store.current();
    if (!current) return null;
    this.hubPushedAt = Date.now();
    this.hubDirty = false;
    return buildSummary(this, current, this.nextHubVersion());
  }

  /** The last version handed to the hub by this instance (0: none yet). */
  private hubVersion = 0;

  /**
   * Summary versions only have to grow: the hub drops one older than what it
   * has. Wall time in microseconds, or one more than the last when pushes come
   * faster, so nothing is written per push (a room wakes cold for most hand-
   * overs; every write counts). The counter runs ahead of the clock only by the
   * pushes within one millisecond, so a new instance, which starts later than
   * that, still issues higher versions. (Rooms used to keep a stored counter;
   * its values are far below these.)
   */
  private nextHubVersion(): number {
    this.hubVersion = Math.max(this.hubVersion + 1, Date.now() * 1000);
    return this.hubVersion;
  }

  private pushToHub(extraTeamIds: string[] = []): void {
    const summary = this.summaryForHub();
    if (!summary) return;
    const current = this.store.current()!;
    // A transferred conversation must also leave its previous team's hub.
    const sends = [...new Set([current.team_id, ...extraTeamIds])].map((teamId) => ({ teamId, summary }));
    // Pushes a hub did not get go again with this one: to an old team after a transfer, or of a
    // conversation since replaced by a new one (its close must still reach the hub).
    for (const debt of this.hubDebts()) {
      if (sends.some((x) => x.teamId === debt.teamId && x.summary.id === debt.conversationId)) continue;
      const row = debt.conversationId === current.id ? current : this.store.conversation(debt.conversationId);
      if (row) sends.push({ teamId: debt.teamId, summary: row === current ? summary : buildSummary(this, row, this.nextHubVersion()) });
      else this.settleHubDebt(debt.teamId, debt.conversationId);
    }
    // Chained so pushes leave in order; the version field guards the rest.
    this.hubChain = this.hubChain.then(async () => {
      for (const { teamId, summary } of sends) {
        try {
          const queue = await this.hub(teamId).syncConversation(summary);
          this.settleHubDebt(teamId, summary.id);
          // Still waiting: the customer sees their place in the queue move without asking, once per
          // change (a chatty waiting customer pushes every second). Not if the conversation moved
          // on meanwhile (the hub may be handing it over as it answers).
          const now = this.store.current();
          if (queue && teamId === current.team_id && summary.id === current.id && now?.id === current.id && now.status === "queued") {
            const before = JSON.stringify(this.queueAnswer?.status);
            const status = this.rememberQueueAnswer(queueKey(now), queue);
            if (JSON.stringify(status) !== before) this.broadcast({ type: "queue", ...status }, "visitors");
          }
        } catch (err) {
          console.error(JSON.stringify({ level: "warn", msg: "hub sync failed; retrying", teamId, error: String(err) }));
          this.oweHub(teamId, summary.id);
          this.hubDirty = true;
          this.hubTicking = true;
          this.timers.set("hubsync", "hub", Date.now() + HUB_RETRY_MS);
        }
      }
    });
  }

  /** Pushes that failed (kept in meta: a new instance owes them too). */
  private hubDebts(): HubDebt[] {
    return this.store.getMeta<HubDebt[]>("hubDebts") ?? [];
  }

  private oweHub(teamId: string, conversationId: string): void {
    const debts = this.hubDebts();
    if (!debts.some((d) => d.teamId === teamId && d.conversationId === conversationId)) this.store.setMeta("hubDebts", [...debts, { teamId, conversationId }]);
  }

  private settleHubDebt(teamId: string, conversationId: string): void {
    const debts = this.hubDebts();
    if (!debts.length) return; // every push asks: the usual answer costs nothing
    const rest = debts.filter((d) => d.teamId !== teamId || d.conversationId !== conversationId);
    if (rest.length !== debts.length) this.store.setMeta("hubDebts", rest);
  }

  /** Archive to D1 shortly after the first unflushed change (batched, off the hot path). */
  scheduleFlush(now = false): void {
    if (now) {
      this.timers.set("flush", "archive", Date.now());
      this.flushPending = true;
      return;
    }
    if (this.flushPending) return;
    this.flushPending = true;
    const jitter = 1 + FLUSH_JITTER * Math.random();
    this.timers.setIfEarlier("flush", "archive", Date.now() + Math.round(FLUSH_DELAY_MS * jitter));
  }

  // ───────────── alarm ─────────────

  async alarm(): Promise<void> {
    await this.timers.runDue(async (timer) => {
      switch (timer.kind) {
        case "flush": {
          this.flushPending = false;
          const more = await flushArchive(this.env.DB, this.store, this.address());
          if (more) this.scheduleFlush(true);
          return;
        }
        case "hubsync":
          return this.hubTick();
        default:
          return this.flow.onTimer(timer);
      }
    });
  }

  // ───────────── RPC (Worker, hub, channels) ─────────────

  /** HTTP API: run a command as `who` (the Worker authenticated them). */
  async perform(who: Identity, address: RoomAddress, input: unknown): Promise<{ ok: true; message?: RoomMessage; messages?: RoomMessage[]; queue?: QueueStatus } | { ok: false; status: number; code: string; message: string }> {
    try {
      const frame = roomClientFrame.parse(input);
      if (who.kind === "visitor" && !VISITOR_COMMANDS.has(frame.type)) throw new RoomError("forbidden", `Visitors cannot ${frame.type}.`);
      if (!(await this.mayAccess(who, address))) throw new RoomError("forbidden", "You cannot open this conversation.");
      if (frame.type === "history") return { ok: true, messages: this.store.messagesBefore(frame.before, frame.limit, who.kind === "agent", this.readableConversations(who)) };
      if (frame.type === "typing") return { ok: true };
      if (frame.type === "queue") return { ok: true, queue: await this.queueStatus() };
      const result = await this.flow.run(who, frame);
      return { ok: true, message: result?.duplicate ?? result?.message };
    } catch (err) {
      if (err instanceof RoomError) return { ok: false, status: err.status, code: err.code, message: err.message };
      if (err && typeof err === "object" && "issues" in err) return { ok: false, status: 400, code: "invalid_frame", message: "Invalid command." };
      throw err;
    }
  }

  /** The room's state for HTTP readers (history pages, integrations). */
  async read(who: Identity, address: RoomAddress, before: number | null, limit: number) {
    const agent = who.kind === "agent";
    if (!(await this.mayAccess(who, address))) return null;
    const current = this.store.current();
    const messages = this.store.messagesBefore(before ?? this.store.lastSeq() + 1, limit, agent, this.readableConversations(who));
    return { conversation: current ? this.flow.snapshot(current, !agent) : null, lastSeq: this.store.lastSeq(), messages };
  }

  /**
   * May `who` use this room (open it, run a command, upload, read history)?
   * Visitors only their own room. Checked before the room stores anything: a
   * refused caller leaves a room that did not exist as it was (empty).
   */
  async mayAccess(who: Identity, address: RoomAddress): Promise<boolean> {
    if (who.kind === "visitor") {
      if (`${who.inboxId}:${who.contactKey}` !== address.roomId) return false;
      this.ensureAddress(address);
      return true;
    }
    if (!this.store.address && !isTeamMember(who, address.teamId)) return false;
    this.ensureAddress(address);
    const current = this.store.current();
    return canSee(who, current, address.teamId, (await this.settings()).visibility, current ? this.store.participants(current.id).map((p) => p.id) : []);
  }

  /**
   * The room's conversations `who` may read (null: every one). A room holds a
   * contact's conversations one after another, maybe of several teams (a
   * transfer moves one); seeing the current one does not open the others. An
   * agent reads each one SPEC §1 lets them see, by its own team and assignee,
   * as the archive does (http/archive.ts). A conversation of another team than
   * the inbox's is read by that team's "assigned" rule: the room does not keep
   * that team's setting, and the stricter one never shows too much.
   */
  readableConversations(who: Identity): string[] | null {
    if (who.kind === "visitor" || who.role === "admin") return null;
    const inboxTeamId = this.store.address?.teamId;
    const inboxVisibility = this.cachedSettings()?.visibility ?? "assigned";
    const all = this.store.allConversations();
    const readable = all.filter((c) =>
      canSee(who, c, c.team_id, c.team_id === inboxTeamId ? inboxVisibility : "assigned", this.store.participants(c.id).map((p) => p.id)),
    );
    return readable.length === all.length ? null : readable.map((c) => c.id);
  }

  /** May `who` download the room's file `key`? If it is in a message, they must be able to read that message's conversation. */
  async mayReadFile(who: Identity, address: RoomAddress, key: string): Promise<boolean> {
    if (!(await this.mayAccess(who, address))) return false;
    const only = this.readableConversations(who);
    const holders = this.store.conversationsWithFile(key);
    return !only || !holders.length || holders.some((id) => only.includes(id));
  }

  /** Hub → room: the hub decided who gets the conversation. */
  async applyAssignment(req: AssignRequest): Promise<AssignResult> {
    return this.flow.applyAssignment(req);
  }

  /** Hub → room: take the conversation away from `agentId` and put it back in the queue. */
  async requeue(conversationId: string, agentId: string, reason: RequeueReason): Promise<boolean> {
    return this.flow.requeue(conversationId, agentId, reason);
  }
}

/** A queue answer holds for the conversation as it was (id and version); none yet: the empty key. */
const queueKey = (c: { id: string; version: number } | null) => (c ? `${c.id}:${c.version}` : "");

function parseFrame(data: string | ArrayBuffer): RoomClientFrame {
  if (typeof data !== "string") throw new RoomError("unsupported", "Send JSON text frames.");
  if (data.length > MAX_FRAME_BYTES) throw new RoomError("too_large", "Frame too large.");
  let raw: unknown;
  try {
    raw = JSON.parse(data);
  } catch {
    throw new RoomError("bad_json", "Frames are JSON.");
  }
  const parsed = roomClientFrame.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new RoomError("invalid_frame", `${issue.path.join(".") || "frame"}: ${issue.message}`, refusedClientId(raw));
  }
  return parsed.data;
}

/** The client id of a refused `send` frame, when it is a well-formed one (it is echoed back). */
function refusedClientId(raw: unknown): string | undefined {
  if (!raw || typeof raw !== "object") return undefined;
  const { type, clientId } = raw as { type?: unknown; clientId?: unknown };
  return type === "send" && clientIdSchema.safeParse(clientId).success ? (clientId as string) : undefined;
}

function parseAddress(raw: string | null): RoomAddress | null {
  if (!raw) return null;
  try {
    const a = JSON.parse(raw) as RoomAddress;
    return typeof a.roomId === "string" && typeof a.inboxId === "string" && typeof a.teamId === "string" && typeof a.contactKey === "string" ? a : null;
  } catch {
    return null;
  }
}

const json = (body: unknown, status: number) => new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
