// The desk sockets of one team: who is on each socket, what each may see
// (SPEC §1 visibility), and the list deltas, presence and offers sent to them.
// A frame for many sockets is serialized once and the same string is sent.
import type { AgentIdentity } from "../identity";
import { isTeamManager } from "../identity";
import { type ConversationSummary, type HubServerFrame, type Presence, type WaitingMarker, waitingMarker } from "../protocol";
import type { TeamSettings } from "../settings";

/** Namespaced so nothing else stored on the socket can overwrite the hub's fields. */
interface DeskAttachment {
  hub: { v: 1; identity: AgentIdentity; connectedAt: number };
}

export type MarkedSummary = ConversationSummary & { marker: WaitingMarker };

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

  constructor(private readonly ctx: DurableObjectState) {}

  accept(ws: WebSocket, identity: AgentIdentity, now: number): void {
    // Tags: "agent" for team-wide broadcasts, "agent:<id>" for one agent's sockets.
    this.ctx.acceptWebSocket(ws, ["agent", `agent:${identity.agentId}`]);
    const attachment: DeskAttachment = { hub: { v: 1, identity, connectedAt: now } };
    ws.serializeAttachment(attachment);
    this.identities.set(ws, identity);
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

  send(ws: WebSocket, frame: HubServerFrame | string): void {
    try {
      ws.send(typeof frame === "string" ? frame : JSON.stringify(frame));
    } catch {
      // Closed between listing and sending: its close handler cleans up.
    }
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
    let removed: string | null = null;
    for (const ws of this.all()) {
      const who = this.identity(ws);
      if (!who) continue;
      const sawIt = prev !== null && canSee(prev, who, teamId, settings);
      if (next && canSee(next, who, teamId, settings)) {
        this.send(ws, (entry ??= JSON.stringify({ type: "conversation", conversation: next } satisfies HubServerFrame)));
      } else if (sawIt) {
        this.send(ws, (removed ??= JSON.stringify({ type: "removed", conversationId: prev.id } satisfies HubServerFrame)));
      }
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
