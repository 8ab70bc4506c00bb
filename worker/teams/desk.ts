// The desk sockets of one team: who is on each socket, what each may see
// (SPEC §1 visibility), and the list deltas, presence and offers sent to them.
// A frame for many sockets is serialized once and the same string is sent.
//
// List deltas are batched while the hub waits on rooms (hold()): when a
// thousand queued chats are handed out at once, each desk gets a few `changes`
// frames instead of a thousand `conversation` frames. With nothing held, a
// delta goes out at once, as a single `conversation` or `removed` frame.
import type { AgentIdentity } from "../identity";
import { isTeamManager } from "../identity";
import { type ConversationSummary, type HubServerFrame, type Presence, type WaitingMarker, waitingMarker } from "../protocol";
import type { TeamSettings } from "../settings";

/** Namespaced so nothing else stored on the socket can overwrite the hub's fields. */
interface DeskAttachment {
  /** `session`: the desk session the socket was opened with (absent on sockets from before it was kept). */
  hub: { v: 1; identity: AgentIdentity; connectedAt: number; session?: string | null };
}

export type MarkedSummary = ConversationSummary & { marker: WaitingMarker };

/** While rooms are being called, a batch goes out with the first delta that arrives this long after it started. */
export const DESK_BATCH_MS = 50;
/** A batch still waiting this long after it started (no more deltas, a room slow to answer) goes out from the alarm. */
export const DESK_BATCH_MAX_MS = 250;

export interface DeskClock {
  now(): number;
  /** A batch started while rooms are being called: send it by `at` even if nothing else happens. */
  batchStarted(at: number): void;
}

export const withMarker = (s: ConversationSummary, settings: TeamSettings, now: number): MarkedSummary => ({
  ...s,
  marker: waitingMarker(s, settings.soonOverdueSeconds, settings.overdueSeconds, now),
});

/** When the conversation's waiting marker next changes (soon → overdue), or null. */
export function nextMarkerAt(s: ConversationSummary, settings: TeamSettings, now: number): number | null {
  if (s.waitingSince === null || s.status === "closed" || s.status === "pending") return null;
  for (const after of [settings.soonOverdueSeconds, settings.overdueSeconds]) {
    const at = s.waitingSince + after * 1000;
    if (at > now) return at;
  }
  return null;
}

/**
 * Visibility "all": every member sees every conversation. "assigned": agents
 * see conversations assigned to them, unassigned ones and ones they
 * participate in; managers and admins see everything. Same rule as the room's
 * (rooms/room-access.ts), so the desk never lists what the room would refuse.
 */
export function canSee(s: ConversationSummary, who: AgentIdentity, teamId: string, settings: TeamSettings): boolean {
  if (settings.visibility === "all" || isTeamManager(who, teamId)) return true;
  const me = who.agentId;
  return s.assigneeId === null || s.assigneeId === me || s.participantIds.includes(me);
}

export class DeskSockets {
  /** Deserializing on every frame is wasteful; the attachment never changes after accept. */
  private readonly identities = new WeakMap<WebSocket, AgentIdentity>();
  /** Last presence frame sent per agent, so only real changes go out. Empty after eviction: first publish resends. */
  private readonly sentPresence = new Map<string, string>();
  /** List deltas not sent yet, per socket and conversation: the serialized entry, or null for "removed". The latest wins. */
  private readonly pending = new Map<WebSocket, Map<string, string | null>>();
  private pendingSince: number | null = null;
  /** Room calls in flight (hold()); deltas are batched while there are any. */
  private holds = 0;

  constructor(
    private readonly ctx: DurableObjectState,
    private readonly clock: DeskClock,
  ) {}

  accept(ws: WebSocket, identity: AgentIdentity, now: number, session: string | null = null): void {
    // Tags: "agent" for team-wide broadcasts, "agent:<id>" for one agent's sockets.
    this.ctx.acceptWebSocket(ws, ["agent", `agent:${identity.agentId}`]);
    const attachment: DeskAttachment = { hub: { v: 1, identity, connectedAt: now, session } };
    ws.serializeAttachment(attachment);
    this.identities.set(ws, identity);
  }

  /** The session the socket was opened with (null: not known). Read rarely (an account's change), so not cached. */
  session(ws: WebSocket): string | null {
    return (ws.deserializeAttachment() as Partial<DeskAttachment> | null)?.hub?.session ?? null;
  }

  identity(ws: WebSocket): AgentIdentity | null {
    let who = this.identities.get(ws);
    if (!who) {
      const attachment = ws.deserializeAttachment() as Partial<DeskAttachment> | null;
      if (!attachment?.hub) return null;
      who = attachment.hub.identity;
      this.identities.set(ws, who);
    }
    return who;
  }

  /** Open sockets (a socket being closed is still listed inside its own close handler). */
  all(except?: WebSocket): WebSocket[] {
    return this.ctx.getWebSockets("agent").filter((ws) => ws !== except && ws.readyState === WebSocket.OPEN);
  }
  ofAgent(agentId: string, except?: WebSocket): WebSocket[] {
    return this.ctx.getWebSockets(`agent:${agentId}`).filter((ws) => ws !== except && ws.readyState === WebSocket.OPEN);
  }

  /** Sends one frame; the socket's batched list deltas go first, so a desk sees everything in order. */
  send(ws: WebSocket, frame: HubServerFrame | string): void {
    if (this.pending.has(ws)) this.sendPending(ws);
    this.write(ws, typeof frame === "string" ? frame : JSON.stringify(frame));
  }
  sendToAgent(agentId: string, frame: HubServerFrame): void {
    const data = JSON.stringify(frame);
    for (const ws of this.ofAgent(agentId)) this.send(ws, data);
  }
  broadcast(frame: HubServerFrame): void {
    const data = JSON.stringify(frame);
    for (const ws of this.all()) this.send(ws, data);
  }

  /**
   * One summary changed (next = null: it left the index). Sockets that may see
   * it get the new entry; sockets that saw it before and may not now get `removed`.
   */
  conversationChanged(prev: ConversationSummary | null, next: MarkedSummary | null, teamId: string, settings: TeamSettings): void {
    let entry: string | null = null;
    for (const ws of this.all()) {
      const who = this.identity(ws);
      if (!who) continue;
      const sawIt = prev !== null && canSee(prev, who, teamId, settings);
      if (next && canSee(next, who, teamId, settings)) this.queue(ws, next.id, (entry ??= JSON.stringify(next)));
      else if (sawIt) this.queue(ws, prev.id, null);
    }
    if (this.pending.size && (this.holds === 0 || this.clock.now() - this.pendingSince! >= DESK_BATCH_MS)) this.flush();
  }

  /** The hub is about to wait on a room: batch list deltas until every such wait has ended (call the result once). */
  hold(): () => void {
    this.holds++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (--this.holds === 0) this.flush();
    };
  }

  /** Sends every batched list delta now. */
  flush(): void {
    for (const ws of [...this.pending.keys()]) this.sendPending(ws);
    this.pendingSince = null;
  }

  private queue(ws: WebSocket, conversationId: string, entry: string | null): void {
    let forSocket = this.pending.get(ws);
    if (!forSocket) this.pending.set(ws, (forSocket = new Map()));
    forSocket.set(conversationId, entry);
    if (this.pendingSince === null) {
      this.pendingSince = this.clock.now();
      if (this.holds > 0) this.clock.batchStarted(this.pendingSince + DESK_BATCH_MAX_MS);
    }
  }

  /** One change goes as `conversation` or `removed`; more as one `changes` frame. Entries are already JSON. */
  private sendPending(ws: WebSocket): void {
    const forSocket = this.pending.get(ws);
    this.pending.delete(ws);
    if (!this.pending.size) this.pendingSince = null;
    if (!forSocket?.size) return;
    const changed: string[] = [];
    const removed: string[] = [];
    for (const [id, entry] of forSocket) {
      if (entry === null) removed.push(id);
      else changed.push(entry);
    }
    if (changed.length + removed.length === 1) {
      this.write(ws, changed.length ? `{"type":"conversation","conversation":${changed[0]}}` : JSON.stringify({ type: "removed", conversationId: removed[0] } satisfies HubServerFrame));
    } else {
      this.write(ws, `{"type":"changes","conversations":[${changed.join(",")}],"removed":${JSON.stringify(removed)}}`);
    }
  }

  private write(ws: WebSocket, data: string): void {
    try {
      ws.send(data);
    } catch {
      // Closed between listing and sending: its close handler cleans up.
    }
  }

  /** Sends presence for the given agents to every socket, skipping agents whose presence did not change. */
  publishPresence(presences: Iterable<Presence>): void {
    for (const presence of presences) {
      const data = JSON.stringify({ type: "presence", presence } satisfies HubServerFrame);
      if (this.sentPresence.get(presence.agentId) === data) continue;
      this.sentPresence.set(presence.agentId, data);
      for (const ws of this.all()) this.send(ws, data);
    }
  }
}
