// The desk's live view of its teams: one team socket per team, the index of
// conversation summaries across them, presence, grab offers and
// notifications. The hub's snapshot is the truth after every (re)connect;
// deltas keep it current. Nothing here polls.
import { getContext, setContext } from "svelte";
import { SvelteMap } from "svelte/reactivity";
import { api, ApiError, type CurrentAgent, reportUnauthorized, type TeamSettings, teamDirectory } from "../api";
import { showToast } from "../components/toasts.svelte";
import {
  type AgentStatus,
  type ConversationSummary,
  type HubClientFrame,
  hubClientFrame,
  type HubServerFrame,
  type Presence,
  type WaitingMarker,
  waitingMarker,
} from "../protocol";
import { LiveSocket, type SocketState, socketUrl } from "./live-socket";

export type DeskConversation = ConversationSummary & { marker: WaitingMarker };
type Notification = Extract<HubServerFrame, { type: "notification" }>["notification"];

export interface TeamLink {
  id: string;
  name: string;
  state: SocketState;
  /** A snapshot arrived on the current connection. */
  synced: boolean;
  /** My role in this team as the hub sees it (admins supervise every team). */
  role: "manager" | "agent" | "admin" | null;
  settings: Pick<TeamSettings, "soonOverdueSeconds" | "overdueSeconds" | "assignmentMode" | "visibility"> | null;
  /** Server clock minus ours, from `hello`, so waiting markers agree with the hub. */
  skew: number;
  presence: Record<string, Presence>;
}

function settingsFrom(raw: Record<string, unknown>): TeamLink["settings"] {
  const num = (k: string, fallback: number) => (typeof raw[k] === "number" ? (raw[k] as number) : fallback);
  return {
    soonOverdueSeconds: num("soonOverdueSeconds", 180),
    overdueSeconds: num("overdueSeconds", 300),
    assignmentMode: raw.assignmentMode === "grab" || raw.assignmentMode === "manual" ? raw.assignmentMode : "auto",
    visibility: raw.visibility === "assigned" ? "assigned" : "all",
  };
}

export class TeamDesk {
  agent = $state.raw<CurrentAgent | null>(null);
  teams = $state<Record<string, TeamLink>>({});
  /** Every team the caller can name (for transfers and team labels). */
  directory = $state.raw<{ id: string; name: string }[]>([]);
  /** Non-closed conversations across my teams, by conversation id. */
  readonly conversations = new SvelteMap<string, DeskConversation>();
  offers = $state.raw<DeskConversation[]>([]);
  notifications = $state.raw<Notification[]>([]);
  /** How far I read, as this desk knows it before the hub echoes it back. */
  readonly localReads = new SvelteMap<string, number>();
  loadError = $state("");
  /** Sockets are set up (or there was nothing to connect to). */
  started = $state(false);

  /** Which team's socket last delivered each conversation (a transfer moves it between hubs). */
  #source = new Map<string, string>();
  #sockets = new Map<string, LiveSocket<HubServerFrame, HubClientFrame>>();
  #generation = 0;

  get me(): string {
    return this.agent?.id ?? "";
  }

  /** Teams where I have a presence of my own (members; an admin outside every team has none). */
  readonly memberTeams = $derived(Object.values(this.teams).filter((t) => this.agent?.teams.some((m) => m.teamId === t.id)));

  /** My presence: the most recently changed entry across my teams (they are kept in step). */
  readonly myPresence = $derived.by((): Presence | null => {
    let best: Presence | null = null;
    for (const t of this.memberTeams) {
      const p = t.presence[this.me];
      if (p && (!best || p.statusSince > best.statusSince)) best = p;
    }
    return best;
  });

  /** Every socket is up and has its snapshot. */
  readonly live = $derived(Object.values(this.teams).every((t) => t.state === "open" && t.synced));
  /** Some socket lost its connection and waits to retry. */
  readonly reconnecting = $derived(Object.values(this.teams).some((t) => t.state === "waiting"));
  /** Server clock minus ours (from any team's hello). */
  readonly skew = $derived(Object.values(this.teams).find((t) => t.settings)?.skew ?? 0);

  async start(agent: CurrentAgent): Promise<void> {
    this.stop();
    const generation = ++this.#generation;
    this.agent = agent;
    this.loadError = "";
    let directory: { id: string; name: string }[] = [];
    try {
      directory = await teamDirectory();
    } catch (err) {
      // Members can still connect to the teams they know from /me; only the names are missing.
      if (generation === this.#generation && !agent.teams.length) this.loadError = err instanceof ApiError ? err.message : "Could not load the teams.";
    }
    if (generation !== this.#generation) return;
    this.directory = directory;
    // Members watch their teams; an admin in no team supervises all of them.
    const ids = agent.teams.length ? agent.teams.map((t) => t.teamId) : agent.role === "admin" ? directory.map((t) => t.id) : [];
    for (const id of ids) this.#connect(id, directory.find((t) => t.id === id)?.name ?? "Team");
    this.started = true;
  }

  stop(): void {
    this.#generation++;
    for (const socket of this.#sockets.values()) socket.stop();
    this.#sockets.clear();
    this.#source.clear();
    this.conversations.clear();
    this.localReads.clear();
    this.teams = {};
    this.offers = [];
    this.started = false;
  }

  // ───────────── commands ─────────────

  /** Status goes to every team I belong to: presence is per team, the agent is one person. */
  setStatus(status: AgentStatus): void {
    this.#sendToMemberTeams({ type: "status", status });
  }

  setPanel(on: boolean): void {
    this.#sendToMemberTeams({ type: "panel", on });
  }

  /** Accept an offer / take a queued conversation; atomic on the hub (first one wins). */
  take(conversation: Pick<ConversationSummary, "id" | "teamId">): void {
    const teamId = this.#source.get(conversation.id) ?? conversation.teamId;
    this.#send(teamId, { type: "take", conversationId: conversation.id });
  }

  /** Teams change rarely; pickers refresh the list when they open. */
  async refreshDirectory(): Promise<void> {
    try {
      this.directory = await teamDirectory();
    } catch {
      // keep the list we have
    }
  }

  dismissOffer(conversationId: string): void {
    this.offers = this.offers.filter((o) => o.id !== conversationId);
  }

  markRead(conversationId: string, seq: number): void {
    if ((this.localReads.get(conversationId) ?? 0) < seq) this.localReads.set(conversationId, seq);
  }

  // ───────────── queries ─────────────

  /** New customer messages I have not seen (the blue dot). */
  unread(c: ConversationSummary): boolean {
    const read = Math.max(c.agentReads[this.me] ?? 0, this.localReads.get(c.id) ?? 0);
    return c.lastCustomerSeq > read;
  }

  /** Soon / overdue, recomputed against the team's thresholds so it moves without waiting for the hub. */
  marker(c: DeskConversation, now: number): WaitingMarker {
    const team = this.teams[this.#source.get(c.id) ?? c.teamId];
    if (!team?.settings) return c.marker;
    return waitingMarker(c, team.settings.soonOverdueSeconds, team.settings.overdueSeconds, now + team.skew);
  }

  teamName(teamId: string): string {
    return this.directory.find((t) => t.id === teamId)?.name ?? this.teams[teamId]?.name ?? "Team";
  }

  /** Members of a team as its hub reports them (presence includes everyone, online or not). */
  membersOf(teamId: string): Presence[] {
    return Object.values(this.teams[teamId]?.presence ?? {});
  }

  /** Am I a manager (or admin) for this team? Mirrors the server's checks; the server still decides. */
  manages(teamId: string): boolean {
    if (this.agent?.role === "admin") return true;
    const role = this.teams[teamId]?.role;
    if (role) return role !== "agent";
    return !!this.agent?.teams.some((t) => t.teamId === teamId && t.role === "manager");
  }

  // ───────────── sockets ─────────────

  #connect(teamId: string, name: string): void {
    this.teams[teamId] = { id: teamId, name, state: "connecting", synced: false, role: null, settings: null, skew: 0, presence: {} };
    const socket = new LiveSocket<HubServerFrame, HubClientFrame>({
      url: () => socketUrl(`/ws/team/${encodeURIComponent(teamId)}`),
      onframe: (frame) => this.#onFrame(teamId, frame),
      onstate: (state) => {
        const link = this.teams[teamId];
        if (!link) return;
        link.state = state;
        if (state !== "open") link.synced = false;
      },
      onfailure: (failures) => {
        if (failures >= 2) void this.#checkAccess(teamId);
      },
    });
    this.#sockets.set(teamId, socket);
    socket.start();
  }

  /** Upgrades keep failing: signed out, or no longer in that team? Stop asking then. */
  async #checkAccess(teamId: string): Promise<void> {
    try {
      const { agent } = await api.me();
      const member = agent.teams.some((t) => t.teamId === teamId);
      if (member || (agent.role === "admin" && !agent.teams.length)) return;
      this.#sockets.get(teamId)?.stop();
      this.#sockets.delete(teamId);
      for (const [id, source] of this.#source) if (source === teamId) this.#forget(id);
      delete this.teams[teamId];
      showToast(`You are no longer a member of ${this.teamName(teamId)}.`, "info");
    } catch (err) {
      if (err instanceof ApiError && err.status === 401) reportUnauthorized();
    }
  }

  #sendToMemberTeams(frame: HubClientFrame): void {
    const teams = this.memberTeams;
    if (!teams.length) return void showToast("You are not a member of any team, so you have no presence to set.");
    for (const t of teams) this.#send(t.id, frame);
  }

  #send(teamId: string, frame: HubClientFrame): void {
    const checked = hubClientFrame.safeParse(frame);
    if (!checked.success) return void showToast(checked.error.issues[0]?.message ?? "That command is not valid.");
    if (!this.#sockets.get(teamId)?.send(checked.data)) showToast(`Not connected to ${this.teamName(teamId)} right now; try again in a moment.`);
  }

  #onFrame(teamId: string, frame: HubServerFrame): void {
    const link = this.teams[teamId];
    if (!link) return;
    switch (frame.type) {
      case "hello":
        link.role = frame.agent.role;
        link.settings = settingsFrom(frame.settings);
        link.skew = frame.now - Date.now();
        return;
      case "snapshot": {
        // The snapshot is the truth: drop what this team told us before, then take it whole.
        for (const [id, source] of this.#source) if (source === teamId) this.#forget(id, true);
        for (const c of frame.conversations) this.#upsert(teamId, c);
        link.presence = Object.fromEntries(frame.presence.map((p) => [p.agentId, p]));
        link.synced = true;
        return;
      }
      case "conversation":
        this.#upsert(teamId, frame.conversation);
        return;
      case "removed":
        this.#removed(teamId, frame.conversationId);
        return;
      case "changes":
        for (const c of frame.conversations) this.#upsert(teamId, c);
        for (const id of frame.removed) this.#removed(teamId, id);
        return;
      case "presence":
        link.presence[frame.presence.agentId] = frame.presence;
        return;
      case "offer":
        this.offers = [...this.offers.filter((o) => o.id !== frame.conversation.id), frame.conversation];
        return;
      case "offerWithdrawn":
        this.dismissOffer(frame.conversationId);
        return;
      case "notification":
        this.notifications = [frame.notification, ...this.notifications].slice(0, 50);
        showToast(frame.notification.body, "info");
        return;
      case "error":
        showToast(frame.message);
        return;
    }
  }

  #upsert(teamId: string, c: DeskConversation): void {
    const known = this.conversations.get(c.id);
    // Versions are per room and only grow; the same version again is a marker update.
    if (known && known.version > c.version) return;
    this.conversations.set(c.id, c);
    this.#source.set(c.id, teamId);
  }

  #removed(teamId: string, conversationId: string): void {
    // A transfer can reach the new team's socket first: only the team that listed it removes it.
    if (this.#source.get(conversationId) === teamId) this.#forget(conversationId);
    this.dismissOffer(conversationId);
  }

  #forget(conversationId: string, keepRead = false): void {
    this.conversations.delete(conversationId);
    this.#source.delete(conversationId);
    if (!keepRead) this.localReads.delete(conversationId);
  }
}

const KEY = Symbol("team-desk");
export const setTeamDesk = (desk: TeamDesk) => setContext(KEY, desk);
export const getTeamDesk = () => getContext<TeamDesk>(KEY);
