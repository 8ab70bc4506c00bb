// The team hub's SQLite: team settings and members cached from D1, presence,
// the index of non-closed conversations with their pending assignment claims,
// and grab offers. Synchronous and single-writer, so a read-check-write here
// is atomic as long as no `await` sits in the middle.
import type { AgentStatus, ConversationSummary } from "../protocol";
import { type TeamSettings, teamSettingsSchema } from "../settings";
import type { HandOver } from "./queue-pace";

export interface Member {
  id: string;
  name: string;
  teamRole: "manager" | "agent";
  accountRole: "admin" | "agent";
  /** Per-agent override (D1 agents.capacity); null = the team default. */
  capacity: number | null;
}

export interface PresenceRow {
  agentId: string;
  status: AgentStatus;
  statusSince: number;
  chatPanel: boolean;
  /** Has a socket, or lost the last one less than the grace period ago. */
  reachable: boolean;
  /** When the agent last got a conversation: "longest idle" breaks ties. */
  lastAssignedAt: number | null;
}

export interface IndexedConversation {
  summary: ConversationSummary;
  /** Agent the hub is handing this conversation to; counts against their capacity. */
  claimAgentId: string | null;
  /** Assignee when the claim was made (a transfer's source). */
  claimFrom: string | null;
  /** When the claim was made; it expires CLAIM_TTL_MS later (assignment.ts). */
  claimedAt: number | null;
  /** The room refused assignment at this version: skip it until a newer summary. */
  holdVersion: number | null;
}

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS members (agent_id TEXT PRIMARY KEY, name TEXT NOT NULL, team_role TEXT NOT NULL,
    account_role TEXT NOT NULL, capacity INTEGER)`,
  `CREATE TABLE IF NOT EXISTS presence (agent_id TEXT PRIMARY KEY, status TEXT NOT NULL, status_since INTEGER NOT NULL,
    chat_panel INTEGER NOT NULL DEFAULT 1, reachable INTEGER NOT NULL DEFAULT 1, last_assigned_at INTEGER)`,
  `CREATE TABLE IF NOT EXISTS conversations (id TEXT PRIMARY KEY, room_id TEXT NOT NULL, status TEXT NOT NULL,
    assignee_id TEXT, version INTEGER NOT NULL, queue_at INTEGER NOT NULL, summary TEXT NOT NULL,
    claim_agent_id TEXT, claim_from TEXT, claim_at INTEGER, hold_version INTEGER)`,
  // The index is read from memory (see HubStore): indexes over it would only slow every write.
  // Hubs created before that still have them.
  `DROP INDEX IF EXISTS conversations_queue`,
  `DROP INDEX IF EXISTS conversations_assignee`,
  `DROP INDEX IF EXISTS conversations_claims`,
  `DROP INDEX IF EXISTS conversations_load`,
  // Versions of conversations that left the index (closed, moved to another
  // team), so a late, older summary cannot bring them back.
  `CREATE TABLE IF NOT EXISTS gone (id TEXT PRIMARY KEY, version INTEGER NOT NULL, at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS offers (conversation_id TEXT NOT NULL, agent_id TEXT NOT NULL, PRIMARY KEY (conversation_id, agent_id))`,
];

type ConversationRow = {
  summary: string;
  claim_agent_id: string | null;
  claim_from: string | null;
  claim_at: number | null;
  hold_version: number | null;
};

type PresenceSqlRow = {
  agent_id: string;
  status: AgentStatus;
  status_since: number;
  chat_panel: number;
  reachable: number;
  last_assigned_at: number | null;
};

const presenceRow = (r: PresenceSqlRow): PresenceRow => ({
  agentId: r.agent_id,
  status: r.status,
  statusSince: r.status_since,
  chatPanel: !!r.chat_panel,
  reachable: !!r.reachable,
  lastAssignedAt: r.last_assigned_at,
});

/** Oldest queued first: by when the customer started waiting, else when the conversation started. */
const queueAt = (s: ConversationSummary) => s.waitingSince ?? s.startedAt;
const byQueue = (a: IndexedConversation, b: IndexedConversation) => queueAt(a.summary) - queueAt(b.summary) || (a.summary.id < b.summary.id ? -1 : a.summary.id > b.summary.id ? 1 : 0);

/** Waiting in the queue for an agent, as the customer sees it (with the bot, a conversation is not in the queue yet). */
const isWaiting = (c: IndexedConversation) => c.summary.status === "queued";

/** Waits in the queue for auto assignment and grab offers: queued, unclaimed, not on hold at this version. */
export const waitsInQueue = (c: IndexedConversation) => c.summary.status === "queued" && c.claimAgentId === null && c.holdVersion !== c.summary.version;

/** Agents the conversation counts against: its claim, and its open or pending assignee (once each). */
export function chargedTo(c: IndexedConversation): string[] {
  const { status, assigneeId } = c.summary;
  const assignee = assigneeId !== null && (status === "open" || status === "pending") && assigneeId !== c.claimAgentId ? assigneeId : null;
  return [c.claimAgentId, assignee].filter((id): id is string => id !== null);
}

const indexed = (r: ConversationRow): IndexedConversation => ({
  summary: JSON.parse(r.summary) as ConversationSummary,
  claimAgentId: r.claim_agent_id,
  claimFrom: r.claim_from,
  claimedAt: r.claim_at,
  holdVersion: r.hold_version,
});

export class HubStore {
  private readonly sql: SqlStorage;
  private settingsCache: TeamSettings | null = null;
  private membersCache: Map<string, Member> | null = null;
  private metaCache = new Map<string, string | null>();
  /**
   * The conversation index, presence and offers are read several times per room
   * update (an assignment burst is thousands of them): loaded once per instance,
   * written through. SQLite stays the truth; null = not loaded yet. Entries are
   * replaced, never mutated, so a caller holding one still sees it as it was.
   */
  private indexCache: Map<string, IndexedConversation> | null = null;
  private presenceCache: Map<string, PresenceRow> | null = null;
  private offersCache: Map<string, Set<string>> | null = null;

  constructor(storage: DurableObjectStorage) {
    this.sql = storage.sql;
    for (const statement of SCHEMA) this.sql.exec(statement);
    // Added after the first release: hubs created before have the table without it.
    const columns = this.sql.exec<{ name: string }>("PRAGMA table_info(conversations)").toArray();
    if (!columns.some((c) => c.name === "claim_at")) this.sql.exec("ALTER TABLE conversations ADD COLUMN claim_at INTEGER");
  }

  // ── meta: team id, settings ──
  /** Meta is read on every room update (team id, members' age): read once, written through. */
  private getMeta(key: string): string | null {
    if (!this.metaCache.has(key)) this.metaCache.set(key, this.sql.exec<{ value: string }>("SELECT value FROM meta WHERE key = ?", key).toArray()[0]?.value ?? null);
    return this.metaCache.get(key) ?? null;
  }
  private setMeta(key: string, value: string): void {
    this.sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, value);
    this.metaCache.set(key, value);
  }
  get teamId(): string | null {
    return this.getMeta("team_id");
  }
  set teamId(id: string) {
    this.setMeta("team_id", id);
  }
  /** Null until loaded from D1 once. */
  get settings(): TeamSettings | null {
    if (!this.settingsCache) {
      const raw = this.getMeta("settings");
      this.settingsCache = raw ? teamSettingsSchema.parse(JSON.parse(raw)) : null;
    }
    return this.settingsCache;
  }
  set settings(settings: TeamSettings) {
    this.settingsCache = settings;
    this.setMeta("settings", JSON.stringify(settings));
  }
  /** The recent hand-overs behind waiting customers' estimates (QueuePace), kept across the hub's evictions. */
  get handOvers(): HandOver[] {
    const raw = this.getMeta("hand_overs");
    return raw ? (JSON.parse(raw) as HandOver[]) : [];
  }
  set handOvers(list: HandOver[]) {
    this.setMeta("hand_overs", JSON.stringify(list));
  }
  get membersLoadedAt(): number | null {
    const raw = this.getMeta("members_loaded_at");
    return raw ? Number(raw) : null;
  }

  // ── members ──
  members(): Map<string, Member> {
    if (!this.membersCache) {
      this.membersCache = new Map();
      const rows = this.sql.exec<{ agent_id: string; name: string; team_role: Member["teamRole"]; account_role: Member["accountRole"]; capacity: number | null }>(
        "SELECT * FROM members ORDER BY agent_id",
      );
      for (const r of rows) this.membersCache.set(r.agent_id, { id: r.agent_id, name: r.name, teamRole: r.team_role, accountRole: r.account_role, capacity: r.capacity });
    }
    return this.membersCache;
  }
  member(id: string): Member | null {
    return this.members().get(id) ?? null;
  }
  replaceMembers(members: Member[], now: number): void {
    this.sql.exec("DELETE FROM members");
    for (const m of members) {
      this.sql.exec("INSERT INTO members (agent_id, name, team_role, account_role, capacity) VALUES (?, ?, ?, ?, ?)", m.id, m.name, m.teamRole, m.accountRole, m.capacity);
    }
    this.setMeta("members_loaded_at", String(now));
    this.membersCache = null;
  }

  // ── presence ──
  private presences(): Map<string, PresenceRow> {
    this.presenceCache ??= new Map(this.sql.exec<PresenceSqlRow>("SELECT * FROM presence").toArray().map((r) => [r.agent_id, presenceRow(r)]));
    return this.presenceCache;
  }
  private changePresence(agentId: string, changes: Partial<PresenceRow>): void {
    const p = this.presences().get(agentId);
    if (p) this.presences().set(agentId, { ...p, ...changes });
  }
  presence(agentId: string): PresenceRow | null {
    return this.presences().get(agentId) ?? null;
  }
  allPresence(): Map<string, PresenceRow> {
    return new Map(this.presences());
  }
  /** First connect: online with the chat panel on. */
  ensurePresence(agentId: string, now: number): PresenceRow {
    const known = this.presence(agentId);
    if (known) return known;
    this.sql.exec("INSERT OR IGNORE INTO presence (agent_id, status, status_since) VALUES (?, 'online', ?)", agentId, now);
    const row: PresenceRow = { agentId, status: "online", statusSince: now, chatPanel: true, reachable: true, lastAssignedAt: null };
    this.presences().set(agentId, row);
    return row;
  }
  reachableAgents(): string[] {
    return [...this.presences().values()].filter((p) => p.reachable).map((p) => p.agentId);
  }
  setStatus(agentId: string, status: AgentStatus, now: number): void {
    if (this.presence(agentId)?.status === status) return;
    this.sql.exec("UPDATE presence SET status = ?, status_since = ? WHERE agent_id = ?", status, now, agentId);
    this.changePresence(agentId, { status, statusSince: now });
  }
  setChatPanel(agentId: string, on: boolean): void {
    this.sql.exec("UPDATE presence SET chat_panel = ? WHERE agent_id = ?", on ? 1 : 0, agentId);
    this.changePresence(agentId, { chatPanel: on });
  }
  setReachable(agentId: string, reachable: boolean): void {
    this.sql.exec("UPDATE presence SET reachable = ? WHERE agent_id = ?", reachable ? 1 : 0, agentId);
    this.changePresence(agentId, { reachable });
  }
  touchAssigned(agentId: string, now: number): void {
    if (this.presence(agentId)?.lastAssignedAt === now) return; // an assignment pass hands out many at one moment
    this.sql.exec("UPDATE presence SET last_assigned_at = ? WHERE agent_id = ?", now, agentId);
    this.changePresence(agentId, { lastAssignedAt: now });
  }

  // ── the conversation index ──
  private index(): Map<string, IndexedConversation> {
    if (!this.indexCache) {
      const rows = this.sql.exec<ConversationRow>("SELECT summary, claim_agent_id, claim_from, claim_at, hold_version FROM conversations").toArray();
      this.indexCache = new Map(rows.map(indexed).map((c) => [c.summary.id, c]));
    }
    return this.indexCache;
  }
  private changeIndexed(id: string, changes: Partial<Omit<IndexedConversation, "summary">>): void {
    const c = this.index().get(id);
    if (c) this.index().set(id, { ...c, ...changes });
  }
  conversation(id: string): IndexedConversation | null {
    return this.index().get(id) ?? null;
  }
  /** Oldest waiting first: by when the customer started waiting, else when the conversation started. */
  conversations(): IndexedConversation[] {
    return [...this.index().values()].sort(byQueue);
  }
  /**
   * The conversation's place among those waiting in the queue (claimed or
   * not; not those with the bot), 1 = next; null when it is not waiting. One pass, no sort:
   * it runs for every push of a queued conversation.
   */
  queuePosition(id: string): number | null {
    const me = this.index().get(id);
    if (!me || !isWaiting(me)) return null;
    let ahead = 0;
    for (const c of this.index().values()) if (isWaiting(c) && byQueue(c, me) < 0) ahead++;
    return ahead + 1;
  }
  /** Queued, unclaimed, not on hold: what auto assignment and grab offers hand out, oldest first. */
  assignable(): IndexedConversation[] {
    return [...this.index().values()].filter(waitsInQueue).sort(byQueue);
  }
  /** Open and pending conversations the room says belong to `agentId`. */
  assignedTo(agentId: string): IndexedConversation[] {
    return [...this.index().values()].filter((c) => c.summary.assigneeId === agentId && (c.summary.status === "open" || c.summary.status === "pending"));
  }
  /** Highest version seen for `id`, in the index or gone from it. */
  knownVersion(id: string): number | null {
    const indexedVersion = this.conversation(id)?.summary.version;
    if (indexedVersion !== undefined) return indexedVersion; // upsert clears `gone`, so the index is the latest
    return this.sql.exec<{ version: number }>("SELECT version FROM gone WHERE id = ?", id).toArray()[0]?.version ?? null;
  }
  /** `endClaim`: the summary settles the conversation's claim (the hand-over landed), cleared in the same write. */
  upsert(s: ConversationSummary, endClaim = false): void {
    const prev = this.conversation(s.id);
    this.sql.exec(
      `INSERT INTO conversations (id, room_id, status, assignee_id, version, queue_at, summary) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET room_id = excluded.room_id, status = excluded.status, assignee_id = excluded.assignee_id,
         version = excluded.version, queue_at = excluded.queue_at, summary = excluded.summary${endClaim ? ", claim_agent_id = NULL, claim_from = NULL, claim_at = NULL" : ""}`,
      s.id, s.roomId, s.status, s.assigneeId, s.version, queueAt(s), JSON.stringify(s),
    );
    // Only a conversation that is not indexed can be in `gone` (remove moves it there, upsert back).
    if (!prev) this.sql.exec("DELETE FROM gone WHERE id = ?", s.id);
    const unclaimed = { claimAgentId: null, claimFrom: null, claimedAt: null };
    this.index().set(s.id, prev ? { ...prev, summary: s, ...(endClaim ? unclaimed : {}) } : { summary: s, ...unclaimed, holdVersion: null });
  }
  remove(id: string, version: number, now: number): void {
    this.sql.exec("DELETE FROM conversations WHERE id = ?", id);
    this.removeOffersFor(id);
    this.sql.exec("INSERT INTO gone (id, version, at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET version = excluded.version, at = excluded.at", id, version, now);
    this.index().delete(id);
  }
  pruneGone(before: number): void {
    this.sql.exec("DELETE FROM gone WHERE at < ?", before);
  }
  setClaim(id: string, agentId: string, from: string | null, at: number): void {
    this.sql.exec("UPDATE conversations SET claim_agent_id = ?, claim_from = ?, claim_at = ? WHERE id = ?", agentId, from, at, id);
    this.changeIndexed(id, { claimAgentId: agentId, claimFrom: from, claimedAt: at });
  }
  clearClaim(id: string): void {
    this.sql.exec("UPDATE conversations SET claim_agent_id = NULL, claim_from = NULL, claim_at = NULL WHERE id = ?", id);
    this.changeIndexed(id, { claimAgentId: null, claimFrom: null, claimedAt: null });
  }
  /** Conversations with a claim, for the expiry sweep. */
  claimed(): IndexedConversation[] {
    return [...this.index().values()].filter((c) => c.claimAgentId !== null);
  }
  hold(id: string, version: number): void {
    this.sql.exec("UPDATE conversations SET hold_version = ? WHERE id = ?", version, id);
    this.changeIndexed(id, { holdVersion: version });
  }

  /** Open chats per agent: open/pending assigned ones plus those being handed to them. */
  openChats(): Map<string, number> {
    const counts = new Map<string, number>();
    for (const c of this.index().values()) for (const agentId of chargedTo(c)) counts.set(agentId, (counts.get(agentId) ?? 0) + 1);
    return counts;
  }

  // ── grab offers ──
  private offerMap(): Map<string, Set<string>> {
    if (!this.offersCache) {
      this.offersCache = new Map();
      for (const r of this.sql.exec<{ conversation_id: string; agent_id: string }>("SELECT conversation_id, agent_id FROM offers")) {
        this.offersCache.set(r.conversation_id, (this.offersCache.get(r.conversation_id) ?? new Set()).add(r.agent_id));
      }
    }
    return this.offersCache;
  }
  offers(): { conversationId: string; agentId: string }[] {
    return [...this.offerMap()].flatMap(([conversationId, agents]) => [...agents].map((agentId) => ({ conversationId, agentId })));
  }
  offersTo(agentId: string): string[] {
    return [...this.offerMap()].filter(([, agents]) => agents.has(agentId)).map(([conversationId]) => conversationId);
  }
  offeredTo(conversationId: string): string[] {
    return [...(this.offerMap().get(conversationId) ?? [])];
  }
  addOffer(conversationId: string, agentId: string): void {
    this.sql.exec("INSERT OR IGNORE INTO offers (conversation_id, agent_id) VALUES (?, ?)", conversationId, agentId);
    this.offerMap().set(conversationId, (this.offerMap().get(conversationId) ?? new Set()).add(agentId));
  }
  removeOffer(conversationId: string, agentId: string): void {
    this.sql.exec("DELETE FROM offers WHERE conversation_id = ? AND agent_id = ?", conversationId, agentId);
    const agents = this.offerMap().get(conversationId);
    agents?.delete(agentId);
    if (agents?.size === 0) this.offerMap().delete(conversationId);
  }
  removeOffersFor(conversationId: string): void {
    if (!this.offerMap().has(conversationId)) return;
    this.sql.exec("DELETE FROM offers WHERE conversation_id = ?", conversationId);
    this.offerMap().delete(conversationId);
  }
}
