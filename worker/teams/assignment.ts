// Assignment (SPEC §6), serialized in the team hub: auto, grab and manual
// policies, the checks on take / assign / transfer, and the hand-over to the
// room.
//
// The invariant: before any `await` on a room, the conversation is *claimed*
// for its new agent in hub storage, synchronously. A claim counts against the
// agent's capacity and blocks every other path to the same conversation, so
// two agents can never both win it. A claim ends when the room's next summary
// shows the hand-over, when the room refuses (reverted), when the call fails
// (reverted, retried from a timer), or when it expires (CLAIM_TTL_MS). The
// room stays the last word: it refuses an assignment it can no longer apply.
import { type AgentIdentity, isTeamManager, isTeamMember } from "../identity";
import type { ConversationSummary, HubServerFrame } from "../protocol";
import type { AssignRequest, AssignResult, RpcResult } from "../rpc";
import type { TeamSettings } from "../settings";
import type { Timers } from "../timers";
import { type DeskSockets, withMarker } from "./desk";
import type { HubStore, IndexedConversation } from "./hub-store";
import { type AgentView, capacityOf, isManagerLike, isReachableOnline } from "./presence";
import { QueuePace } from "./queue-pace";
import type { Background, Clock, RoomPort } from "./rooms-port";

export const CLAIM_TTL_MS = 60_000;
export const RETRY_MS = 5_000;

export interface AssignmentHost {
  store: HubStore;
  timers: Timers;
  desk: DeskSockets;
  clock: Clock;
  background: Background;
  rooms(): RoomPort;
  teamId(): string;
  settings(): TeamSettings;
  views(): Map<string, AgentView>;
  publishPresence(agentIds?: Iterable<string>): void;
  /** Index a summary the room handed back with its answer. */
  syncConversation(summary: ConversationSummary): Promise<void>;
  /** A conversation that waited in the queue was handed over (the room archives it with its next flush; see HandOverArchive). */
  handedOverFromQueue(summary: ConversationSummary): void;
}

type Checked = { ok: true; conversation: IndexedConversation } | { ok: false; code: string; message: string };
const refuse = (code: string, message: string) => ({ ok: false as const, code, message });

/**
 * Auto mode's choice for one conversation: among agents with room left, the
 * fewest open chats, then the longest idle (earliest last assignment; never
 * assigned counts as idle forever), then a stable id order. The agent the
 * room asked to avoid is picked only when nobody else can take it.
 */
export function pickAgent(s: ConversationSummary, candidates: AgentView[]): AgentView | null {
  const withRoom = candidates.filter((v) => v.openChats < v.capacity);
  const others = withRoom.filter((v) => v.member.id !== s.avoidAgentId);
  const pool = others.length ? others : withRoom;
  let best: AgentView | null = null;
  for (const v of pool) {
    if (!best) best = v;
    else {
      const idle = (v.presence?.lastAssignedAt ?? -Infinity) - (best.presence?.lastAssignedAt ?? -Infinity);
      if (v.openChats < best.openChats || (v.openChats === best.openChats && (idle < 0 || (idle === 0 && v.member.id < best.member.id)))) best = v;
    }
  }
  return best;
}

export class Assignment {
  /** The pace of hand-overs from the queue, for waiting customers' estimates (stored: see savePace). */
  private pacing: QueuePace | null = null;

  constructor(private readonly host: AssignmentHost) {}

  get pace(): QueuePace {
    this.pacing ??= new QueuePace(this.host.store.handOvers);
    return this.pacing;
  }

  /** Once per assignment pass or single claim, not per chat: a pass can hand out hundreds. */
  savePace(): void {
    if (this.pacing) this.host.store.handOvers = this.pacing.list();
  }

  /** May `req.by` hand `req.conversationId` to `req.agent` now? Synchronous: claim right after. */
  check(req: AssignRequest): Checked {
    const { store } = this.host;
    const teamId = this.host.teamId();
    const settings = this.host.settings();
    const conversation = store.conversation(req.conversationId);
    if (!conversation || conversation.summary.roomId !== req.roomId) return refuse("not_found", "That conversation is not open in this team.");
    const s = conversation.summary;
    const by: AgentIdentity | null = req.by;
    if (!by || !isTeamMember(by, teamId) || (by.role !== "admin" && !store.member(by.agentId))) {
      return refuse("forbidden", "Only members of this team can assign its conversations.");
    }
    const target = store.member(req.agent.id);
    if (!target) return refuse("not_member", "That agent is not a member of this team.");
    if (conversation.claimAgentId) return refuse("conflict", "This conversation is already being handed to an agent.");
    // Manager rights come from the hub's member list, which follows role changes at once
    // (membersChanged), not from the identity a socket was opened with.
    const member = store.member(by.agentId);
    const manager = member ? isManagerLike(member) : isTeamManager(by, teamId);
    switch (req.mode) {
      case "take": {
        if (by.agentId !== req.agent.id) return refuse("forbidden", "You can only take a conversation for yourself.");
        if (s.status !== "queued" && s.status !== "bot") return refuse("conflict", "This conversation is no longer waiting.");
        // SPEC §1: in grab mode managers join instead of grabbing; they can still assign to themselves.
        if (settings.assignmentMode === "grab" && manager) {
          return refuse("managers_join", "In grab mode managers join conversations; assign it to yourself to take it over.");
        }
        // Offline means no active chats (SPEC §6): the take would be handed straight back to the
        // queue, after the customer saw the agent join. (Someone who never opened the desk, an
        // integration, has no status yet: taking is being there.)
        if (store.presence(by.agentId)?.status === "offline") return refuse("agent_unavailable", "You are offline: go online to take chats.");
        const capacity = member ? capacityOf(member, settings) : settings.defaultCapacity;
        if ((store.openChats().get(by.agentId) ?? 0) >= capacity) return refuse("over_capacity", `You already have ${capacity} open chats.`);
        return { ok: true, conversation };
      }
      case "assign": {
        if (!manager) return refuse("forbidden", "Only a manager or an admin can assign conversations.");
        if (s.assigneeId === req.agent.id) return refuse("conflict", "That agent already has this conversation.");
        // Offline means no active chats (SPEC §6); a manager may still hand one to someone on a break.
        const status = store.presence(req.agent.id)?.status ?? "offline";
        if (status === "offline") return refuse("agent_unavailable", `${target.name} is offline.`);
        return { ok: true, conversation };
      }
      case "transfer":
        if (s.assigneeId !== by.agentId && !manager) return refuse("forbidden", "Only the assignee or a manager can transfer this conversation.");
        if (s.assigneeId === req.agent.id) return refuse("conflict", "That agent already has this conversation.");
        if (!isReachableOnline(store.presence(req.agent.id))) return refuse("agent_unavailable", "That agent is not available for chats right now.");
        // Capacity (SPEC §6) holds for transfers; a manager's `assign` may go past it on purpose.
        if ((store.openChats().get(req.agent.id) ?? 0) >= capacityOf(target, settings)) return refuse("over_capacity", `${target.name} already has ${capacityOf(target, settings)} open chats.`);
        return { ok: true, conversation };
      case "auto":
        return refuse("forbidden", "Auto assignment is the hub's own.");
    }
  }

  /** Reserves the conversation for `agentId` (see the file comment); withdraws its grab offers. */
  claim(conversation: IndexedConversation, agentId: string, now = this.host.clock.now()): void {
    const { store } = this.host;
    const s = conversation.summary;
    // The queue's pace (taking a conversation from the bot skips the queue).
    if (s.status === "queued") this.pace.record(now, s.waitingSince ?? s.startedAt);
    store.setClaim(conversation.summary.id, agentId, conversation.summary.assigneeId, now);
    store.touchAssigned(agentId, now);
    this.scheduleSweep(now + CLAIM_TTL_MS);
    this.withdrawOffers(conversation.summary.id, agentId);
  }

  /** A sweep is scheduled at or before this time (as far as this instance knows; null = unknown). */
  private sweepBy: number | null = null;

  private scheduleSweep(at: number): void {
    if (this.sweepBy !== null && this.sweepBy <= at) return;
    this.host.timers.setIfEarlier("claims", "sweep", at);
    this.sweepBy = at;
  }

  /**
   * The `claims` timer: ends every claim older than CLAIM_TTL_MS (its room never
   * answered) and schedules itself for the next one. Returns the agents whose
   * load changed. A claim without a time (made before claims had one) counts as old.
   */
  sweepClaims(now: number): string[] {
    this.sweepBy = null;
    const released: string[] = [];
    let next: number | null = null;
    for (const c of this.host.store.claimed()) {
      const due = (c.claimedAt ?? 0) + CLAIM_TTL_MS;
      if (due <= now) {
        this.release(c.summary.id, c.claimAgentId!);
        released.push(c.claimAgentId!);
      } else if (next === null || due < next) next = due;
    }
    if (next !== null) this.scheduleSweep(next);
    return released;
  }

  /** Ends `agentId`'s claim on the conversation, if it still holds one. */
  private release(conversationId: string, agentId: string): void {
    const c = this.host.store.conversation(conversationId);
    if (c?.claimAgentId !== agentId) return;
    this.host.store.clearClaim(conversationId);
  }

  /** Asks the room to apply a claimed assignment and settles the claim on refusal or failure. */
  async handOver(req: AssignRequest, claimedAtVersion: number): Promise<RpcResult> {
    // Desks get this hand-over's outcome with whatever else changes meanwhile, in one batch.
    const unhold = this.host.desk.hold();
    try {
      return await this.settleHandOver(req, claimedAtVersion);
    } finally {
      unhold();
    }
  }

  private async settleHandOver(req: AssignRequest, claimedAtVersion: number): Promise<RpcResult> {
    const { store, timers, clock } = this.host;
    let result: AssignResult;
    const waited = store.conversation(req.conversationId)?.summary.status;
    try {
      result = await this.host.rooms().applyAssignment({ ...req, teamId: this.host.teamId() });
    } catch (err) {
      console.error(JSON.stringify({ level: "error", msg: "applyAssignment failed", conversationId: req.conversationId, error: String(err) }));
      this.release(req.conversationId, req.agent.id);
      // The room may be restarting: try the queue again shortly.
      timers.setIfEarlier("retry", "assign", clock.now() + RETRY_MS);
      result = refuse("room_unavailable", "The conversation could not be reached; try again.");
    }
    if (!result.ok) {
      this.release(req.conversationId, req.agent.id);
      // The room says how things stand (another agent has it, it moved to another team): index that first.
      if (result.summary) await this.host.syncConversation(result.summary);
      // The room refused this version: keep offers and auto assignment off it until it changes.
      if (result.code !== "room_unavailable" && store.conversation(req.conversationId)?.summary.version === claimedAtVersion) store.hold(req.conversationId, claimedAtVersion);
    } else if (store.presence(req.agent.id)?.status === "offline") {
      // They went offline while the room was applying: give it back to the queue.
      this.requeue(req.roomId, req.conversationId, req.agent.id);
    }
    // On success the room's new summary brings the change (and the next assignment pass);
    // a refusal frees the agent's slot and the conversation now.
    if (!result.ok) {
      this.host.publishPresence([req.agent.id]);
      this.run();
      return result;
    }
    if (result.summary) {
      if (waited === "queued" || waited === "bot") this.host.handedOverFromQueue(result.summary);
      await this.host.syncConversation(result.summary);
    }
    return { ok: true };
  }

  /**
   * Could a conversation, back in the queue, go to an agent other than
   * `agentId` now? By the team's mode: auto hands it to an available agent
   * with room (pickAgent), grab offers it to available agents who are not
   * managers, manual leaves it for any available member to take.
   */
  someoneElseCouldTake(agentId: string, views: Map<string, AgentView>): boolean {
    const mode = this.host.settings().assignmentMode;
    for (const v of views.values()) {
      if (v.member.id === agentId || !v.available || v.openChats >= v.capacity) continue;
      if (mode === "grab" && isManagerLike(v.member)) continue;
      return true;
    }
    return false;
  }

  /** The team's policy over the current queue: grab offers, auto assignment. Synchronous up to the room calls. */
  run(): void {
    const settings = this.host.settings();
    const views = this.host.views();
    this.reconcileOffers(views, settings);
    if (settings.assignmentMode === "auto") this.autoAssign(views);
  }

  private autoAssign(views: Map<string, AgentView>): void {
    const candidates = [...views.values()].filter((v) => v.available && v.openChats < v.capacity);
    if (!candidates.length) return; // nobody can take one: leave the queue unread
    const touched = new Set<string>();
    const now = this.host.clock.now();
    for (const conversation of this.host.store.assignable()) {
      const agent = pickAgent(conversation.summary, candidates);
      if (!agent) break; // everyone is full; the rest stay queued
      this.claim(conversation, agent.member.id, now);
      // The views are this pass's working copy: the next pick sees this one.
      agent.openChats++;
      agent.presence = agent.presence && { ...agent.presence, lastAssignedAt: now };
      touched.add(agent.member.id);
      const s = conversation.summary;
      const req: AssignRequest = { conversationId: s.id, roomId: s.roomId, agent: { id: agent.member.id, name: agent.member.name }, by: null, mode: "auto" };
      this.host.background.run(this.handOver(req, s.version));
    }
    if (touched.size) {
      this.savePace();
      this.host.publishPresence(touched);
    }
  }

  /**
   * Grab mode: every queued conversation is offered to every available
   * non-manager agent with room for it. Computes the offers that should exist
   * and sends the difference, so it is safe to call after any change.
   */
  private reconcileOffers(views: Map<string, AgentView>, settings: TeamSettings): void {
    const { store, desk } = this.host;
    const wanted = new Map<string, Set<string>>();
    if (settings.assignmentMode === "grab") {
      const eligible = [...views.values()].filter((v) => v.available && !isManagerLike(v.member) && v.openChats < v.capacity);
      for (const c of store.assignable()) {
        const others = eligible.filter((v) => v.member.id !== c.summary.avoidAgentId);
        wanted.set(c.summary.id, new Set((others.length ? others : eligible).map((v) => v.member.id)));
      }
    }
    for (const o of store.offers()) {
      if (wanted.get(o.conversationId)?.delete(o.agentId)) continue; // exists and wanted: nothing to send
      store.removeOffer(o.conversationId, o.agentId);
      desk.sendToAgent(o.agentId, { type: "offerWithdrawn", conversationId: o.conversationId, takenBy: null });
    }
    const now = this.host.clock.now();
    for (const [conversationId, agentIds] of wanted) {
      if (!agentIds.size) continue;
      const s = store.conversation(conversationId)!.summary;
      const frame = JSON.stringify({ type: "offer", conversation: withMarker(s, settings, now) } satisfies HubServerFrame);
      for (const agentId of agentIds) {
        store.addOffer(conversationId, agentId);
        for (const ws of desk.ofAgent(agentId)) desk.send(ws, frame);
      }
    }
  }

  /** The conversation is no longer up for grabs: everyone it was offered to hears who took it. */
  withdrawOffers(conversationId: string, takenBy: string | null): void {
    const { store, desk } = this.host;
    const offered = store.offeredTo(conversationId);
    if (!offered.length) return;
    store.removeOffersFor(conversationId);
    const frame: HubServerFrame = { type: "offerWithdrawn", conversationId, takenBy };
    for (const agentId of offered) desk.sendToAgent(agentId, frame);
  }

  /**
   * Going offline gives up every open and pending chat (SPEC §6), and so does
   * leaving the team (removed, or the account disabled): the rooms requeue them.
   */
  requeueAll(agentId: string, reason: "offline" | "removed" = "offline"): void {
    for (const c of this.host.store.assignedTo(agentId)) this.requeue(c.summary.roomId, c.summary.id, agentId, reason);
  }

  requeue(roomId: string, conversationId: string, agentId: string, reason: "offline" | "removed" = "offline"): void {
    const { timers, clock, rooms, background, desk } = this.host;
    const unhold = desk.hold();
    background.run(
      rooms()
        .requeue(roomId, conversationId, agentId, reason)
        .catch((err) => {
          console.error(JSON.stringify({ level: "error", msg: "requeue failed", conversationId, error: String(err) }));
          timers.set("requeue", conversationId, clock.now() + RETRY_MS, JSON.stringify({ agentId, reason }));
        })
        .finally(unhold),
    );
  }

  /** Retry timer for a failed requeue (payload: JSON of the agent and reason; a bare agent id from older hubs is "offline"): only if it still applies. */
  retryRequeue(conversationId: string, payload: string): void {
    const { agentId, reason } = payload.startsWith("{") ? (JSON.parse(payload) as { agentId: string; reason: "offline" | "removed" }) : { agentId: payload, reason: "offline" as const };
    const { store } = this.host;
    const c = store.conversation(conversationId);
    if (!c || c.summary.assigneeId !== agentId) return;
    if (reason === "offline" ? store.presence(agentId)?.status !== "offline" : store.member(agentId)) return;
    this.requeue(c.summary.roomId, conversationId, agentId, reason);
  }
}
