// The team hub's SQLite: team settings and members cached from D1, presence,
// the index of non-closed conversations with their pending assignment claims,
// and grab offers. Synchronous and single-writer, so a read-check-write here
// is atomic as long as no `await` sits in the middle.
import type { AgentStatus, ConversationSummary } from "../protocol";
import { type TeamSettings, teamSettingsSchema } from "../settings";

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
    claim_agent_id TEXT, claim_from TEXT, hold_version INTEGER)`,
  `CREATE INDEX IF NOT EXISTS conversations_queue ON conversations(status, queue_at)`,
  `CREATE INDEX IF NOT EXISTS conversations_assignee ON conversations(assignee_id)`,
  // Covering partial indexes for openChats(): counting load must not read every summary (it runs per sync).
  `CREATE INDEX IF NOT EXISTS conversations_claims ON conversations(claim_agent_id) WHERE claim_agent_id IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS conversations_load ON conversations(assignee_id, claim_agent_id) WHERE assignee_id IS NOT NULL AND status IN ('open', 'pending')`,
  // Versions of conversations that left the index (closed, moved to another
  // team), so a late, older summary cannot bring them back.
  `CREATE TABLE IF NOT EXISTS gone (id TEXT PRIMARY KEY, version INTEGER NOT NULL, at INTEGER NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS offers (conversation_id TEXT NOT NULL, agent_id TEXT NOT NULL, PRIMARY KEY (conversation_id, agent_id))`,
];

type ConversationRow = {
  summary: string;
  claim_agent_id: string | null;
  claim_from: string | null;
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

const indexed = (r: ConversationRow): IndexedConversation => ({
  summary: JSON.parse(r.summary) as ConversationSummary,
  claimAgentId: r.claim_agent_id,
  claimFrom: r.claim_from,
  holdVersion: r.hold_version,
});

export class HubStore {
  private readonly sql: SqlStorage;
  private settingsCache: TeamSettings | null = null;
  private membersCache: Map<string, Member> | null = null;
  private metaCache = new Map<string, string | null>();

  constructor(storage: DurableObjectStorage) {
    this.sql = storage.sql;
    for (const statement of SCHEMA) this.sql.exec(statement);
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
  presence(agentId: string): PresenceRow | null {
    const r = this.sql.exec<PresenceSqlRow>("SELECT * FROM presence WHERE agent_id = ?", agentId).toArray()[0];
    return r ? presenceRow(r) : null;
  }
  allPresence(): Map<string, PresenceRow> {
    return new Map(this.sql.exec<PresenceSqlRow>("SELECT * FROM presence").toArray().map((r) => [r.agent_id, presenceRow(r)]));
  }
  /** First connect: online with the chat panel on. */
  ensurePresence(agentId: string, now: number): PresenceRow {
    this.sql.exec("INSERT OR IGNORE INTO presence (agent_id, status, status_since) VALUES (?, 'online', ?)", agentId, now);
    return this.presence(agentId)!;
  }
  reachableAgents(): string[] {
    return this.sql.exec<{ agent_id: string }>("SELECT agent_id FROM presence WHERE reachable = 1").toArray().map((r) => r.agent_id);
  }
  setStatus(agentId: string, status: AgentStatus, now: number): void {
    this.sql.exec("UPDATE presence SET status = ?, status_since = ? WHERE agent_id = ? AND status <> ?", status, now, agentId, status);
  }
  setChatPanel(agentId: string, on: boolean): void {
    this.sql.exec("UPDATE presence SET chat_panel = ? WHERE agent_id = ?", on ? 1 : 0, agentId);
  }
  setReachable(agentId: string, reachable: boolean): void {
    this.sql.exec("UPDATE presence SET reachable = ? WHERE agent_id = ?", reachable ? 1 : 0, agentId);
  }
  touchAssigned(agentId: string, now: number): void {
    this.sql.exec("UPDATE presence SET last_assigned_at = ? WHERE agent_id = ?", now, agentId);
  }

  // ── the conversation index ──
  conversation(id: string): IndexedConversation | null {
    const r = this.sql.exec<ConversationRow>("SELECT summary, claim_agent_id, claim_from, hold_version FROM conversations WHERE id = ?", id).toArray()[0];
    return r ? indexed(r) : null;
  }
  conversations(): IndexedConversation[] {
    return this.sql.exec<ConversationRow>("SELECT summary, claim_agent_id, claim_from, hold_version FROM conversations ORDER BY queue_at, id").toArray().map(indexed);
  }
  /** Queued, unclaimed, not on hold: what auto assignment and grab offers hand out, oldest first. */
  assignable(): IndexedConversation[] {
    return this.sql
      .exec<ConversationRow>(
        `SELECT summary, claim_agent_id, claim_from, hold_version FROM conversations
         WHERE status = 'queued' AND claim_agent_id IS NULL AND (hold_version IS NULL OR hold_version <> version)
         ORDER BY queue_at, id`,
      )
      .toArray()
      .map(indexed);
  }
  /** Open and pending conversations the room says belong to `agentId`. */
  assignedTo(agentId: string): IndexedConversation[] {
    return this.sql
      .exec<ConversationRow>("SELECT summary, claim_agent_id, claim_from, hold_version FROM conversations WHERE assignee_id = ? AND status IN ('open', 'pending')", agentId)
      .toArray()
      .map(indexed);
  }
  /** Highest version seen for `id`, in the index or gone from it. */
  knownVersion(id: string): number | null {
    const r = this.sql
      .exec<{ v: number | null }>("SELECT MAX(v) AS v FROM (SELECT version AS v FROM conversations WHERE id = ?1 UNION ALL SELECT version FROM gone WHERE id = ?1)", id)
      .toArray()[0];
    return r?.v ?? null;
  }
  upsert(s: ConversationSummary): void {
    // Oldest queued first: by when the customer started waiting, else when the conversation started.
    const queueAt = s.waitingSince ?? s.startedAt;
    this.sql.exec(
      `INSERT INTO conversations (id, room_id, status, assignee_id, version, queue_at, summary) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(id) DO UPDATE SET room_id = excluded.room_id, status = excluded.status, assignee_id = excluded.assignee_id,
         version = excluded.version, queue_at = excluded.queue_at, summary = excluded.summary`,
      s.id, s.roomId, s.status, s.assigneeId, s.version, queueAt, JSON.stringify(s),
    );
    this.sql.exec("DELETE FROM gone WHERE id = ?", s.id);
  }
  remove(id: string, version: number, now: number): void {
    this.sql.exec("DELETE FROM conversations WHERE id = ?", id);
    this.sql.exec("DELETE FROM offers WHERE conversation_id = ?", id);
    this.sql.exec("INSERT INTO gone (id, version, at) VALUES (?, ?, ?) ON CONFLICT(id) DO UPDATE SET version = excluded.version, at = excluded.at", id, version, now);
  }
  pruneGone(before: number): void {
    this.sql.exec("DELETE FROM gone WHERE at < ?", before);
  }
  setClaim(id: string, agentId: string, from: string | null): void {
    this.sql.exec("UPDATE conversations SET claim_agent_id = ?, claim_from = ? WHERE id = ?", agentId, from, id);
  }
  clearClaim(id: string): void {
    this.sql.exec("UPDATE conversations SET claim_agent_id = NULL, claim_from = NULL WHERE id = ?", id);
  }
  hold(id: string, version: number): void {
    this.sql.exec("UPDATE conversations SET hold_version = ? WHERE id = ?", version, id);
  }

  /** Open chats per agent: open/pending assigned ones plus those being handed to them. */
  openChats(): Map<string, number> {
    const rows = this.sql.exec<{ agent: string; n: number }>(
      `SELECT agent, COUNT(*) AS n FROM (
         SELECT claim_agent_id AS agent FROM conversations WHERE claim_agent_id IS NOT NULL
         UNION ALL
         SELECT assignee_id FROM conversations WHERE assignee_id IS NOT NULL AND status IN ('open', 'pending')
           AND (claim_agent_id IS NULL OR claim_agent_id <> assignee_id)
       ) GROUP BY agent`,
    );
    const counts = new Map<string, number>();
    for (const r of rows) counts.set(r.agent, r.n);
    return counts;
  }

  // ── grab offers ──
  offers(): { conversationId: string; agentId: string }[] {
    return this.sql
      .exec<{ conversation_id: string; agent_id: string }>("SELECT conversation_id, agent_id FROM offers")
      .toArray()
      .map((r) => ({ conversationId: r.conversation_id, agentId: r.agent_id }));
  }
  offersTo(agentId: string): string[] {
    return this.sql.exec<{ conversation_id: string }>("SELECT conversation_id FROM offers WHERE agent_id = ?", agentId).toArray().map((r) => r.conversation_id);
  }
  offeredTo(conversationId: string): string[] {
    return this.sql.exec<{ agent_id: string }>("SELECT agent_id FROM offers WHERE conversation_id = ?", conversationId).toArray().map((r) => r.agent_id);
  }
  addOffer(conversationId: string, agentId: string): void {
    this.sql.exec("INSERT OR IGNORE INTO offers (conversation_id, agent_id) VALUES (?, ?)", conversationId, agentId);
  }
  removeOffer(conversationId: string, agentId: string): void {
    this.sql.exec("DELETE FROM offers WHERE conversation_id = ? AND agent_id = ?", conversationId, agentId);
  }
  removeOffersFor(conversationId: string): void {
    this.sql.exec("DELETE FROM offers WHERE conversation_id = ?", conversationId);
  }
}
