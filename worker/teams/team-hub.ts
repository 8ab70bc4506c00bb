// TeamHub: one Durable Object per team (idFromName(teamId)). It keeps the
// team's index of non-closed conversations, agent presence and the queue, and
// serializes assignment (SPEC §6). Desks hold one hibernatable socket here for
// their lists; rooms call it over RPC. Everything durable is in SQLite
// (hub-store.ts) and every timer in the multiplexed alarm (../timers.ts), so
// eviction loses nothing but caches.
import { DurableObject } from "cloudflare:workers";
import { currentAccount } from "../auth/session";
import type { Env } from "../env";
import { type AgentIdentity, identityFrom, isTeamMember, SESSION_HEADER } from "../identity";
import { type ConversationSummary, conversationSummarySchema, type HubClientFrame, hubClientFrame, type HubServerFrame, type QueueStatus } from "../protocol";
import type { AssignRequest, RpcResult } from "../rpc";
import { type TeamSettings, teamSettingsSchema } from "../settings";
import { type DueTimer, Timers } from "../timers";
import { Assignment } from "./assignment";
import { isOpen, nextSwitch } from "./business-hours";
import { canSee, DeskSockets, nextMarkerAt, withMarker } from "./desk";
import { HandOverArchive } from "./hand-over-archive";
import { chargedTo, HubStore, type IndexedConversation, type Member, waitsInQueue } from "./hub-store";
import { agentViews, type AgentView, anyoneAvailable, isManagerLike, toPresence } from "./presence";
import { Background, chatRooms, Clock, type RoomPort } from "./rooms-port";
import { type HubNotification, loadMembers, loadTeamSettings, recordNotifications } from "./team-directory";

export type { HubNotification };

/** Set by the Worker when it forwards a desk socket (worker/http/sockets.ts). */
export const TEAM_HEADER = "x-edgedesk-team";

const MEMBERS_TTL_MS = 5 * 60_000;
const GONE_TTL_MS = 7 * 86_400_000;
const DEFAULTS = teamSettingsSchema.parse({});

/** One per team: presence, queue, assignment, and the desk's live lists. */
export class TeamHub extends DurableObject<Env> {
  private readonly store: HubStore;
  private readonly timers: Timers;
  private readonly desk: DeskSockets;
  private readonly assignment: Assignment;
  private readonly rooms: RoomPort;
  /** Fields are not exposed over RPC; tests reach these through runInDurableObject to move time and await room calls. */
  readonly clock = new Clock();
  /** Room calls in flight (assignment hand-overs, requeues). */
  readonly background = new Background();
  private readonly handOvers: HandOverArchive;
  /** Marker timer per conversation as this instance last set it (null = none); a fresh instance knows nothing. */
  private readonly markerAt = new Map<string, number | null>();

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.store = new HubStore(ctx.storage);
    this.timers = new Timers(ctx.storage);
    this.desk = new DeskSockets(ctx, {
      now: () => this.clock.now(),
      batchStarted: (at) => this.timers.setIfEarlier("desk", "batch", at),
    });
    this.rooms = chatRooms(env);
    this.handOvers = new HandOverArchive(env.DB, this.timers);
    this.assignment = new Assignment({
      store: this.store,
      timers: this.timers,
      desk: this.desk,
      clock: this.clock,
      background: this.background,
      rooms: () => this.rooms,
      teamId: () => this.teamId,
      settings: () => this.settings,
      views: () => this.views(),
      publishPresence: (ids) => this.publishPresence(ids),
      syncConversation: async (summary) => void (await this.syncConversation(summary)),
      handedOverFromQueue: (summary) => this.handOvers.note(summary, this.clock.now()),
    });
    // Desk pings are answered by the runtime, so an idle hub can hibernate.
    ctx.setWebSocketAutoResponse(new WebSocketRequestResponsePair('{"type":"ping"}', '{"type":"pong"}'));
    this.startGraceForLostSockets();
  }

  // ───────────────────────── desk sockets ─────────────────────────

  async fetch(request: Request): Promise<Response> {
    const who = identityFrom(request);
    if (!who || who.kind !== "agent") return new Response("forbidden", { status: 403 });
    if (request.headers.get("upgrade")?.toLowerCase() !== "websocket") return new Response("expected a websocket", { status: 426 });
    await this.ensureLoaded(request.headers.get(TEAM_HEADER));
    // The Worker checked membership; the hub checks again against its own team and D1's member list.
    if (!isTeamMember(who, this.teamId)) return new Response("forbidden", { status: 403 });
    const loadedAt = this.store.membersLoadedAt ?? 0;
    if ((who.role !== "admin" && !this.store.member(who.agentId)) || this.clock.now() - loadedAt > MEMBERS_TTL_MS) await this.reloadMembers();
    const member = this.store.member(who.agentId);
    if (!member && who.role !== "admin") return new Response("forbidden", { status: 403 });

    const [client, server] = Object.values(new WebSocketPair());
    const now = this.clock.now();
    this.desk.accept(server, who, now, request.headers.get(SESSION_HEADER));
    if (member) {
      // First connect makes an agent online; later connects keep the status they chose.
      this.store.ensurePresence(member.id, now);
      this.store.setReachable(member.id, true);
      this.timers.clear("away", member.id);
    }
    for (const frame of this.openingFrames(who)) this.desk.send(server, frame);
    if (member) {
      this.publishPresence([member.id]);
      this.assignment.run();
    }
    return new Response(null, { status: 101, webSocket: client });
  }

  async webSocketMessage(ws: WebSocket, message: string | ArrayBuffer): Promise<void> {
    const who = this.desk.identity(ws);
    if (!who) return ws.close(1011, "unknown socket");
    if (typeof message !== "string") return this.desk.send(ws, error("unsupported", "Frames are JSON text."));
    let data: unknown;
    try {
      data = JSON.parse(message);
    } catch {
      return this.desk.send(ws, error("bad_json", "That frame is not JSON."));
    }
    const parsed = hubClientFrame.safeParse(data);
    if (!parsed.success) return this.desk.send(ws, error("invalid_frame", parsed.error.issues.map((i) => i.message).join("; ")));
    await this.ensureLoaded();
    const refused = await this.onFrame(who, parsed.data);
    if (refused) this.desk.send(ws, refused);
  }

  async webSocketClose(ws: WebSocket): Promise<void> {
    this.socketGone(ws);
  }

  async webSocketError(ws: WebSocket): Promise<void> {
    this.socketGone(ws);
  }

  /** Answers a desk command; returns the error frame when refused. */
  private async onFrame(who: AgentIdentity, frame: HubClientFrame): Promise<HubServerFrame | null> {
    const now = this.clock.now();
    switch (frame.type) {
      case "status":
      case "panel": {
        if (!this.store.member(who.agentId)) return error("not_member", "Only members of this team have a presence here.");
        this.store.ensurePresence(who.agentId, now);
        if (frame.type === "panel") this.store.setChatPanel(who.agentId, frame.on);
        else {
          const before = this.store.presence(who.agentId)?.status;
          this.store.setStatus(who.agentId, frame.status, now);
          if (frame.status === "offline" && before !== "offline") this.assignment.requeueAll(who.agentId);
        }
        this.publishPresence([who.agentId]);
        this.assignment.run();
        return null;
      }
      case "take":
      case "assign": {
        const c = this.store.conversation(frame.conversationId);
        if (!c) return error("not_found", "That conversation is not open in this team.");
        const agentId = frame.type === "take" ? who.agentId : frame.agentId;
        const result = await this.claimAndHandOver({
          conversationId: c.summary.id,
          roomId: c.summary.roomId,
          agent: { id: agentId, name: this.store.member(agentId)?.name ?? who.name },
          by: who,
          mode: frame.type,
        });
        return result.ok ? null : error(result.code, result.message);
      }
    }
  }

  /** Check, claim (synchronously, before any await) and let the room apply it. */
  private async claimAndHandOver(req: AssignRequest): Promise<RpcResult> {
    const checked = this.assignment.check(req);
    if (!checked.ok) return { ok: false, code: checked.code, message: checked.message };
    this.assignment.claim(checked.conversation, req.agent.id);
    this.assignment.savePace();
    this.publishPresence([req.agent.id]);
    return this.assignment.handOver(req, checked.conversation.summary.version);
  }

  private socketGone(ws: WebSocket): void {
    const who = this.desk.identity(ws);
    if (!who || this.desk.ofAgent(who.agentId, ws).length) return;
    // Losing the last socket is not leaving: the agent stays reachable for the grace period.
    if (this.store.presence(who.agentId)?.reachable) this.timers.set("away", who.agentId, this.clock.now() + this.settings.awayGraceSeconds * 1000);
  }

  /** A restart can drop sockets without a close event: start the grace period for agents left without one. */
  private startGraceForLostSockets(): void {
    const grace = (this.store.settings ?? DEFAULTS).awayGraceSeconds * 1000;
    for (const agentId of this.store.reachableAgents()) {
      if (!this.desk.ofAgent(agentId).length && !this.timers.has("away", agentId)) this.timers.set("away", agentId, this.clock.now() + grace);
    }
  }

  private openingFrames(who: AgentIdentity): HubServerFrame[] {
    const settings = this.settings;
    const now = this.clock.now();
    const teamRole = who.teams.find((t) => t.teamId === this.teamId)?.role ?? "agent";
    const conversations = this.store
      .conversations()
      .filter((c) => canSee(c.summary, who, this.teamId, settings))
      .map((c) => withMarker(c.summary, settings, now));
    const frames: HubServerFrame[] = [
      { type: "hello", agent: { id: who.agentId, name: who.name, role: who.role === "admin" ? "admin" : teamRole }, teamId: this.teamId, settings, now },
      { type: "snapshot", conversations, presence: [...this.views().values()].map(toPresence) },
    ];
    // Offers still standing (a reconnect must not lose them).
    for (const id of this.store.offersTo(who.agentId)) {
      const c = this.store.conversation(id);
      if (c) frames.push({ type: "offer", conversation: withMarker(c.summary, settings, now) });
    }
    return frames;
  }

  // ───────────────────────── RPC from rooms and the API ─────────────────────────

  /**
   * A room's conversation changed: upsert it in the index (or drop it), update
   * desks, assign. A conversation still waiting is answered with its place in
   * the queue, which the room passes on to the customer.
   */
  async syncConversation(summary: ConversationSummary): Promise<QueueStatus | null> {
    const s = validSummary(summary);
    if (!s) return null;
    await this.ensureLoaded(s.teamId);
    const indexed = this.index(s);
    if (!indexed) return null;
    // Presence and assignment run only when the change moved load or the queue. Activity
    // (previews, read pointers, waiting times) does neither, nor does a room confirming a
    // hand-over the hub had claimed (the claim already counted and kept it out of the queue).
    if (indexed.moved) {
      this.publishPresence(indexed.affected);
      this.assignment.run();
    }
    const position = this.store.queuePosition(s.id);
    return position === null ? null : this.queueStatusAt(position);
  }

  /** Indexes a room's summary (or drops the conversation from the index) and updates the desks; null for older news. */
  private index(s: ConversationSummary): { moved: boolean; affected: Set<string> } | null {
    const known = this.store.knownVersion(s.id);
    if (known !== null && s.version <= known) return null; // older news
    const now = this.clock.now();
    const prev = this.store.conversation(s.id);
    const affected = new Set([prev?.summary.assigneeId, prev?.claimAgentId, s.assigneeId].filter((id): id is string => !!id));

    if (s.teamId !== this.teamId || s.status === "closed") {
      this.assignment.withdrawOffers(s.id, null);
      this.store.remove(s.id, s.version, now);
      this.timers.setIfEarlier("prune", "gone", now + 86_400_000);
      this.timers.clear("marker", s.id);
      this.markerAt.delete(s.id);
      if (prev) this.desk.conversationChanged(prev.summary, null, this.teamId, this.settings);
    } else {
      const claim = prev?.claimAgentId;
      // The room reported the hand-over, or someone else won: the claim has done its job.
      this.store.upsert(s, !!claim && (s.assigneeId === claim || (s.assigneeId !== null && s.assigneeId !== prev?.claimFrom)));
      if (s.status !== "queued") this.assignment.withdrawOffers(s.id, s.assigneeId);
      this.scheduleMarker(s, now);
      this.desk.conversationChanged(prev?.summary ?? null, withMarker(s, this.settings, now), this.teamId, this.settings);
    }
    return { moved: footprint(prev) !== footprint(this.store.conversation(s.id)), affected };
  }

  /**
   * Would the conversation, taken from `agentId` now, go to somebody else? The
   * agent response timeout (SPEC §4) reassigns only then; with nobody else to
   * take it, requeueing would hand it back to the same agent (or leave it
   * waiting with nobody at all), with requeue and "joined" lines every period.
   */
  async couldReassign(conversationId: string, agentId: string): Promise<boolean> {
    await this.ensureLoaded();
    // Not this team's (any more): the room's own checks decide; requeueing is the old, safe answer.
    if (!this.store.conversation(conversationId)) return true;
    return this.assignment.someoneElseCouldTake(agentId, this.views());
  }

  /** Where a conversation stands in this team's queue (null id: only whether anyone is available). */
  async queueStatus(conversationId: string | null): Promise<QueueStatus> {
    await this.ensureLoaded();
    return this.queueStatusAt(conversationId ? this.store.queuePosition(conversationId) : null);
  }

  private queueStatusAt(position: number | null): QueueStatus {
    const now = this.clock.now();
    const agentsAvailable = anyoneAvailable(this.store, isOpen(this.settings.businessHours, new Date(now)));
    const estimatedWaitSeconds = position !== null && agentsAvailable ? this.assignment.pace.estimateSeconds(position, now) : null;
    return { position, estimatedWaitSeconds, agentsAvailable };
  }

  /**
   * A room asks to assign: `join` (take), a manager's `assign`, or `transfer`.
   * The hub decides and, on yes, calls the room's applyAssignment before answering.
   */
  async assign(req: AssignRequest): Promise<RpcResult> {
    await this.ensureLoaded();
    if (req.summary) {
      // Indexed and checked in one step (no await between): no assignment pass runs in between.
      const s = validSummary(req.summary);
      if (!s) return { ok: false, code: "invalid_summary", message: "The room sent an invalid summary." };
      const indexed = this.index(s);
      if (indexed?.moved) this.publishPresence(indexed.affected);
    }
    const result = await this.claimAndHandOver({ ...req, summary: undefined, agent: { id: req.agent.id, name: this.store.member(req.agent.id)?.name || req.agent.name } });
    // Refused: the conversation waits in the queue like any other.
    if (req.summary && !result.ok) this.assignment.run();
    return result;
  }

  /**
   * Stores notifications in D1 (the desk's bell) and pushes them to the agents'
   * open desks: only to members who may see the conversation, as the desk
   * list decides it (a notification quotes the note).
   */
  async notify(agentIds: string[], n: HubNotification): Promise<void> {
    await this.ensureLoaded();
    const summary = this.store.conversation(n.conversationId)?.summary;
    const allowed = agentIds.filter((id) => {
      const member = this.store.member(id);
      if (!member) return false;
      if (!summary) return this.settings.visibility === "all" || isManagerLike(member);
      return canSee(summary, memberIdentity(member, this.teamId), this.teamId, this.settings);
    });
    for (const { agentId, ...notification } of await recordNotifications(this.env.DB, allowed, n, this.clock.now())) {
      this.desk.sendToAgent(agentId, { type: "notification", notification });
    }
  }

  /** PATCH /teams/:id changed the settings: re-read thresholds, hours and mode; desks get a fresh hello + snapshot. */
  async settingsChanged(settings: TeamSettings): Promise<void> {
    if (!this.store.teamId && this.ctx.id.name) this.store.teamId = this.ctx.id.name;
    this.store.settings = teamSettingsSchema.parse(settings);
    this.scheduleBusinessHours();
    const now = this.clock.now();
    for (const c of this.store.conversations()) this.scheduleMarker(c.summary, now);
    if (this.store.teamId) {
      for (const ws of this.desk.all()) {
        const who = this.desk.identity(ws);
        if (who) for (const frame of this.openingFrames(who)) this.desk.send(ws, frame);
      }
      if (this.store.membersLoadedAt !== null) {
        this.publishPresence();
        this.assignment.run();
      }
    }
  }

  /** HTTP API: run a desk command as `who` (the Worker authenticated them). Returns the refusal, if any. */
  async perform(who: AgentIdentity, input: unknown): Promise<{ code: string; message: string } | null> {
    await this.ensureLoaded();
    if (!isTeamMember(who, this.teamId)) return { code: "forbidden", message: "You are not a member of this team." };
    const parsed = hubClientFrame.safeParse(input);
    if (!parsed.success) return { code: "invalid_frame", message: parsed.error.issues.map((i) => i.message).join("; ") };
    const refused = await this.onFrame(who, parsed.data);
    return refused?.type === "error" ? { code: refused.code, message: refused.message } : null;
  }

  /** HTTP API: the desk socket's snapshot, for integrations that do not hold a socket. */
  async snapshotFor(who: AgentIdentity): Promise<Omit<Extract<HubServerFrame, { type: "snapshot" }>, "type"> | null> {
    await this.ensureLoaded();
    if (!isTeamMember(who, this.teamId)) return null;
    const snapshot = this.openingFrames(who).find((f) => f.type === "snapshot");
    return snapshot ? { conversations: snapshot.conversations, presence: snapshot.presence } : { conversations: [], presence: [] };
  }

  /**
   * HTTP API: the ids of the team's conversations that are not closed, or of
   * one inbox's among them (a team or an inbox with any cannot be deleted).
   */
  async openConversationIds(inboxId?: string): Promise<string[]> {
    await this.ensureLoaded();
    return this.store
      .conversations()
      .filter((c) => !inboxId || c.summary.inboxId === inboxId)
      .map((c) => c.summary.id);
  }

  /**
   * Team membership or an agent's account changed in D1. The desks of the
   * `changedAgentIds` are checked against their account as it is now: a
   * disabled or removed account, one whose role or teams changed, or a desk
   * whose session ended (signed out, password changed), is disconnected (the
   * desk reconnects with the new identity, or is refused).
   * Admins need this: they keep a desk without being members, so the member
   * list alone does not show what happened to them.
   */
  async membersChanged(changedAgentIds: string[] = []): Promise<void> {
    await this.ensureLoaded();
    await this.reloadMembers();
    for (const agentId of new Set(changedAgentIds)) {
      const desks = this.desk.ofAgent(agentId);
      if (!desks.length) continue;
      const account = await currentAccount(this.env.DB, agentId);
      for (const ws of desks) {
        const was = this.desk.identity(ws);
        const session = this.desk.session(ws);
        if (!account) ws.close(4003, "account no longer active");
        else if (session && !account.sessionIds.has(session)) ws.close(4001, "signed out");
        else if (was && identityChanged(was, account.identity)) ws.close(4009, "your account changed");
      }
    }
  }

  // ───────────────────────── timers ─────────────────────────

  async alarm(): Promise<void> {
    if (!this.store.teamId) return;
    await this.ensureLoaded();
    await this.timers.runDue((t) => this.onTimer(t), this.clock.now());
  }

  private onTimer(t: DueTimer): void | Promise<void> {
    const now = this.clock.now();
    switch (t.kind) {
      case "away":
        // The grace period ran out with no socket back: no longer reachable, no new chats.
        if (this.desk.ofAgent(t.key).length) return;
        this.store.setReachable(t.key, false);
        this.publishPresence([t.key]);
        this.assignment.run();
        return;
      case "marker": {
        const c = this.store.conversation(t.key);
        if (!c) return;
        this.desk.conversationChanged(c.summary, withMarker(c.summary, this.settings, now), this.teamId, this.settings);
        this.scheduleMarker(c.summary, now);
        return;
      }
      case "hours":
        // Opening or closing flips everyone's availability.
        this.publishPresence();
        this.assignment.run();
        this.scheduleBusinessHours();
        return;
      case "claims":
      case "claim": {
        // `claim` timers (one per claim) are from before the sweep; either way, sweep.
        const released = this.assignment.sweepClaims(now);
        if (released.length) {
          this.publishPresence(released);
          this.assignment.run();
        }
        return;
      }
      case "retry":
        this.assignment.run();
        return;
      case "requeue":
        if (t.payload) this.assignment.retryRequeue(t.key, t.payload);
        return;
      case "prune":
        this.store.pruneGone(now - GONE_TTL_MS);
        return;
      case "desk":
        // A batch of list deltas whose room calls are slow to answer: send what there is.
        this.desk.flush();
        return;
      case "archive":
        return this.handOvers.write();
    }
  }

  private scheduleMarker(s: ConversationSummary, now: number): void {
    const at = nextMarkerAt(s, this.settings, now);
    // Most room updates leave the marker where it was: skip the timer write then.
    if (this.markerAt.has(s.id) && this.markerAt.get(s.id) === at) return;
    if (at === null) this.timers.clear("marker", s.id);
    else this.timers.set("marker", s.id, at);
    this.markerAt.set(s.id, at);
  }

  private scheduleBusinessHours(): void {
    const at = nextSwitch(this.settings.businessHours, new Date(this.clock.now()));
    if (at === null) this.timers.clear("hours", "switch");
    else this.timers.set("hours", "switch", at);
  }

  // ───────────────────────── team, settings, members ─────────────────────────

  private get teamId(): string {
    const id = this.store.teamId;
    if (!id) throw new Error("TeamHub used before it learned its team id");
    return id;
  }

  private get settings(): TeamSettings {
    return this.store.settings ?? DEFAULTS;
  }

  /** Learns the team id (header, summary or object name) and loads settings and members from D1 once. */
  private async ensureLoaded(teamIdHint?: string | null): Promise<void> {
    if (!this.store.teamId) {
      const id = this.ctx.id.name ?? teamIdHint;
      if (!id) throw new Error("TeamHub does not know its team id");
      this.store.teamId = id;
    }
    if (!this.store.settings) {
      const settings = await loadTeamSettings(this.env.DB, this.teamId);
      // A concurrent settingsChanged may have landed during the await; it wins.
      if (!this.store.settings) {
        this.store.settings = settings;
        this.scheduleBusinessHours();
      }
    }
    if (this.store.membersLoadedAt === null) await this.reloadMembers();
  }

  private async reloadMembers(): Promise<void> {
    this.store.replaceMembers(await loadMembers(this.env.DB, this.teamId), this.clock.now());
    // Chats of someone no longer a member (removed, or the account disabled) go back to the queue:
    // they could not open them any more.
    const gone = new Set(this.store.conversations().flatMap((c) => (c.summary.assigneeId && !this.store.member(c.summary.assigneeId) ? [c.summary.assigneeId] : [])));
    for (const agentId of gone) this.assignment.requeueAll(agentId, "removed");
    // Someone removed from the team loses the desk at once, not at their next reconnect; someone
    // whose role in it changed is reconnected, so their desk and its identity show the new role.
    for (const ws of this.desk.all()) {
      const who = this.desk.identity(ws);
      if (!who) continue;
      const member = this.store.member(who.agentId);
      if (who.role !== "admin" && !member) ws.close(4003, "no longer a member of this team");
      else if (member && member.teamRole !== (who.teams.find((t) => t.teamId === this.teamId)?.role ?? member.teamRole)) ws.close(4009, "your role in this team changed");
    }
    this.publishPresence();
    this.assignment.run();
  }

  // ───────────────────────── presence ─────────────────────────

  private views(): Map<string, AgentView> {
    const settings = this.settings;
    return agentViews(this.store, settings, isOpen(settings.businessHours, new Date(this.clock.now())));
  }

  /** Sends presence deltas for the given agents (default: every member) to every desk. */
  private publishPresence(agentIds?: Iterable<string>): void {
    const views = this.views();
    const ids = agentIds ? [...agentIds] : [...views.keys()];
    this.desk.publishPresence(ids.flatMap((id) => (views.has(id) ? [toPresence(views.get(id)!)] : [])));
  }
}

const error = (code: string, message: string): HubServerFrame => ({ type: "error", code, message });

/** A member as an identity, for the visibility rules (canSee). */
function memberIdentity(m: Member, teamId: string): AgentIdentity {
  return { kind: "agent", agentId: m.id, name: m.name, role: m.accountRole, teams: [{ teamId, role: m.teamRole }] };
}

/** Account role or team memberships differ: a desk opened with `was` shows or may do what `now` may not. */
function identityChanged(was: AgentIdentity, now: AgentIdentity): boolean {
  const teams = (who: AgentIdentity) => JSON.stringify(who.teams.map((t) => [t.teamId, t.role]).sort());
  return was.role !== now.role || teams(was) !== teams(now);
}

/** What a conversation means for assignment: whom it counts against and whether it waits in the queue. */
function footprint(c: IndexedConversation | null): string {
  return c ? JSON.stringify([chargedTo(c).sort(), waitsInQueue(c)]) : "";
}

/** A room's summary as the hub indexes it, or null (logged) when it does not validate. */
function validSummary(summary: ConversationSummary): ConversationSummary | null {
  const parsed = conversationSummarySchema.safeParse(summary);
  if (parsed.success) return parsed.data;
  console.error(JSON.stringify({ level: "error", msg: "invalid summary from room", issues: parsed.error.issues.slice(0, 3) }));
  return null;
}
