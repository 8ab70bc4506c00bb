// The room's SQLite: conversations (episodes), messages with their per-room
// sequence, participants and read pointers. Synchronous, single writer.
import type { Author, CloseReason, Conversation, ConversationStatus, DeliveryStatus, MessageKind, RoomMessage } from "../protocol";
import type { RoomAddress } from "../rpc";
import { TIMERS_SCHEMA } from "../timers";

export type ConversationRow = {
  id: string;
  status: ConversationStatus;
  close_reason: CloseReason | null;
  close_comment: string | null;
  title: string | null;
  tags: string;
  flagged: number;
  critical: number;
  critical_comment: string | null;
  assignee_id: string | null;
  assignee_name: string | null;
  team_id: string;
  csat_requested: number;
  csat_score: number | null;
  csat_comment: string | null;
  details: string;
  started_at: number;
  closed_at: number | null;
  merged_into: string | null;
  last_customer_at: number | null;
  last_agent_at: number | null;
  last_activity_at: number;
  waiting_since: number | null;
  pending_since: number | null;
  last_customer_seq: number;
  first_response_at: number | null;
  mentioned: string;
  avoid_agent_id: string | null;
  version: number;
  archived_version: number;
};

type MessageRow = {
  seq: number;
  conversation_id: string;
  kind: MessageKind;
  author_type: Author["type"];
  author_id: string | null;
  author_name: string | null;
  client_id: string | null;
  body: string;
  data: string | null;
  internal: number;
  provider_id: string | null;
  delivery_status: DeliveryStatus | null;
  created_at: number;
};

export interface NewMessage {
  conversationId: string;
  kind: MessageKind;
  author: Author;
  clientId?: string | null;
  body: string;
  data?: Record<string, unknown> | null;
  internal: boolean;
  providerId?: string | null;
  deliveryStatus?: DeliveryStatus | null;
}

/** Bump with every change to SCHEMA (and add the migration for existing rooms). */
const SCHEMA_VERSION = 3;
const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)`,
  `CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, status TEXT NOT NULL, close_reason TEXT, close_comment TEXT, title TEXT,
    tags TEXT NOT NULL DEFAULT '[]', flagged INTEGER NOT NULL DEFAULT 0, critical INTEGER NOT NULL DEFAULT 0,
    critical_comment TEXT, assignee_id TEXT, assignee_name TEXT, team_id TEXT NOT NULL,
    csat_requested INTEGER NOT NULL DEFAULT 0, csat_score INTEGER, csat_comment TEXT,
    details TEXT NOT NULL DEFAULT '{}', started_at INTEGER NOT NULL, closed_at INTEGER, merged_into TEXT,
    last_customer_at INTEGER, last_agent_at INTEGER, last_activity_at INTEGER NOT NULL,
    waiting_since INTEGER, pending_since INTEGER, last_customer_seq INTEGER NOT NULL DEFAULT 0,
    first_response_at INTEGER, mentioned TEXT NOT NULL DEFAULT '[]', avoid_agent_id TEXT,
    version INTEGER NOT NULL DEFAULT 1, archived_version INTEGER NOT NULL DEFAULT 0)`,
  `CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY, conversation_id TEXT NOT NULL, kind TEXT NOT NULL,
    author_type TEXT NOT NULL, author_id TEXT, author_name TEXT, client_id TEXT,
    body TEXT NOT NULL, data TEXT, internal INTEGER NOT NULL DEFAULT 0,
    provider_id TEXT, delivery_status TEXT, created_at INTEGER NOT NULL, flushed INTEGER NOT NULL DEFAULT 0)`,
  // A retried send is recognised by its client id; provider ids dedupe webhooks.
  `CREATE UNIQUE INDEX IF NOT EXISTS messages_client ON messages(client_id) WHERE client_id IS NOT NULL`,
  `CREATE UNIQUE INDEX IF NOT EXISTS messages_provider ON messages(provider_id) WHERE provider_id IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS messages_unflushed ON messages(seq) WHERE flushed = 0`,
  // Each instance's first flush re-queues a flush cut off by eviction (flushed = 2): without this, a scan of every message.
  `CREATE INDEX IF NOT EXISTS messages_flushing ON messages(seq) WHERE flushed = 2`,
  `CREATE TABLE IF NOT EXISTS participants (conversation_id TEXT NOT NULL, agent_id TEXT NOT NULL, name TEXT NOT NULL,
    joined_at INTEGER NOT NULL, PRIMARY KEY (conversation_id, agent_id))`,
  `CREATE TABLE IF NOT EXISTS reads (reader TEXT PRIMARY KEY, seq INTEGER NOT NULL)`,
  ...TIMERS_SCHEMA,
];

const CONVERSATION_COLUMNS: (keyof ConversationRow)[] = [
  "id", "status", "close_reason", "close_comment", "title", "tags", "flagged", "critical", "critical_comment",
  "assignee_id", "assignee_name", "team_id", "csat_requested", "csat_score", "csat_comment", "details",
  "started_at", "closed_at", "merged_into", "last_customer_at", "last_agent_at", "last_activity_at",
  "waiting_since", "pending_since", "last_customer_seq", "first_response_at", "mentioned", "avoid_agent_id",
  "version", "archived_version",
];
const MESSAGE_COLUMNS: (keyof MessageRow)[] = [
  "seq", "conversation_id", "kind", "author_type", "author_id", "author_name", "client_id",
  "body", "data", "internal", "provider_id", "delivery_status", "created_at",
];
const asJsonObject = (columns: string[]) => `json_object(${columns.map((c) => `'${c}', ${c}`).join(", ")})`;

/**
 * The conversation the room is on: the newest one (closed or not), newest by
 * creation (rowid), not by started_at, which a merge moves back to the
 * earlier conversation's start.
 */
const CURRENT = "FROM conversations WHERE merged_into IS NULL ORDER BY rowid DESC LIMIT 1";
/** The newest line both sides see that is not an event or the bot's (the list preview); isConversationLine in SQL. */
const LAST_LINE = "FROM messages WHERE internal = 0 AND kind <> 'event' AND author_type <> 'bot' ORDER BY seq DESC LIMIT 1";

/**
 * One row of JSON texts (see RoomStore.wake): the reads of current(), lastSeq(),
 * reads(), participants() and lastConversationLine(). Preparing it costs about
 * as much as the separate reads would (most of it is the conversation's thirty
 * columns); a CTE for the current conversation would compile its columns twice.
 */
const WAKE_QUERY = `SELECT
    (SELECT json_group_object(key, json(value)) FROM meta) AS meta,
    (SELECT ${asJsonObject(CONVERSATION_COLUMNS)} ${CURRENT}) AS current,
    (SELECT MAX(seq) FROM messages) AS last_seq,
    (SELECT json_group_object(reader, seq) FROM reads) AS reads,
    (SELECT json_group_array(json_object('id', agent_id, 'name', name, 'at', joined_at)) FROM participants WHERE conversation_id = (SELECT id ${CURRENT})) AS participants,
    (SELECT ${asJsonObject(MESSAGE_COLUMNS)} ${LAST_LINE}) AS last_line,
    (SELECT MIN(due_at) FROM timers) AS next_timer`;
type WakeRow = { meta: string; current: string | null; last_seq: number | null; reads: string; participants: string; last_line: string | null; next_timer: number | null };

/** Live bookkeeping the D1 archive does not keep (see archive.ts): changing only these does not re-archive. */
const LIVE_ONLY = new Set<string>(["last_customer_at", "last_customer_seq", "last_activity_at", "last_agent_at", "waiting_since", "pending_since", "mentioned", "avoid_agent_id", "assignee_name", "csat_requested"]);

export class RoomStore {
  private sql: SqlStorage;
  private lastSeqCache: number | null = null;
  /** The current conversation, read several times per message: cached and written through; undefined = not read yet. */
  private currentCache: ConversationRow | null | undefined = undefined;
  /** Meta values are read on every message (address, settings): parsed once, written through. */
  private metaCache = new Map<string, unknown>();
  private metaLoaded = false;
  /** Read for every summary the hub gets: cached per instance, kept in step by the writes below. */
  private participantsCache = new Map<string, { id: string; name: string }[]>();
  private readsCache: Record<string, number> | null = null;
  /** The newest line both sides see (the list preview); undefined = not read yet. */
  private lastLineCache: RoomMessage | null | undefined = undefined;
  /** Rows a flush cut off by eviction left "being written" were put back (once per instance, at its first flush). */
  private flushRecovered = false;

  /** The earliest timer when the room woke (null: none), for Timers; undefined when the wake read did not run. */
  readonly nextTimerAtWake: number | null | undefined;

  constructor(private readonly storage: DurableObjectStorage) {
    this.sql = storage.sql;
    // A room wakes often (hibernation, eviction): skip re-running the schema once it is in place.
    const woke = this.wake();
    if (woke?.schema !== SCHEMA_VERSION) {
      this.dropCaches();
      for (const statement of SCHEMA) this.sql.exec(statement);
      this.setMeta("schema", SCHEMA_VERSION);
    }
    this.nextTimerAtWake = woke?.schema === SCHEMA_VERSION ? woke.nextTimer : undefined;
  }

  /**
   * Almost every event a room wakes for (a message, a hand-over, a hub push)
   * reads its meta, current conversation, last sequence, participants, read
   * pointers and preview line. A woken room prepares every statement anew, so
   * they are read here in one statement and kept in the caches below. Null for
   * a room without tables yet.
   */
  private wake(): { schema: unknown; nextTimer: number | null } | null {
    let row: WakeRow;
    try {
      row = this.sql.exec<WakeRow>(WAKE_QUERY).one();
    } catch {
      return null;
    }
    const meta = JSON.parse(row.meta) as Record<string, unknown>;
    for (const [key, value] of Object.entries(meta)) this.metaCache.set(key, value);
    this.metaLoaded = true;
    const current = row.current ? (JSON.parse(row.current) as ConversationRow) : null;
    this.currentCache = current;
    this.lastSeqCache = row.last_seq ?? 0;
    this.readsCache = JSON.parse(row.reads) as Record<string, number>;
    if (current) {
      const joined = JSON.parse(row.participants) as { id: string; name: string; at: number }[];
      this.participantsCache.set(current.id, joined.sort((a, b) => a.at - b.at).map(({ id, name }) => ({ id, name })));
    }
    this.lastLineCache = row.last_line ? toMessage(JSON.parse(row.last_line) as MessageRow) : null;
    return { schema: meta.schema, nextTimer: row.next_timer };
  }

  // ── meta ──
  getMeta<T>(key: string): T | null {
    // A woken room reads several keys at once (address, settings, names): load them all in one query.
    if (!this.metaLoaded) {
      for (const row of this.sql.exec<{ key: string; value: string }>("SELECT key, value FROM meta")) {
        if (!this.metaCache.has(row.key)) this.metaCache.set(row.key, JSON.parse(row.value));
      }
      this.metaLoaded = true;
    }
    return (this.metaCache.get(key) ?? null) as T | null;
  }
  setMeta(key: string, value: unknown): void {
    this.sql.exec("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value", key, JSON.stringify(value));
    this.metaCache.set(key, value);
  }
  get address(): RoomAddress | null {
    return this.getMeta<RoomAddress>("address");
  }

  // ── conversations ──
  /** The conversation the room is on: the newest one (closed or not). */
  current(): ConversationRow | null {
    this.currentCache ??= this.sql.exec<ConversationRow>(`SELECT * ${CURRENT}`).toArray()[0] ?? null;
    return this.currentCache;
  }
  conversation(id: string): ConversationRow | null {
    const current = this.current();
    if (current?.id === id) return current;
    return this.sql.exec<ConversationRow>("SELECT * FROM conversations WHERE id = ?", id).toArray()[0] ?? null;
  }
  allConversations(): ConversationRow[] {
    return this.sql.exec<ConversationRow>("SELECT * FROM conversations ORDER BY rowid").toArray();
  }
  insertConversation(row: Pick<ConversationRow, "id" | "status" | "team_id" | "details" | "started_at" | "last_activity_at">): void {
    this.sql.exec(
      "INSERT INTO conversations (id, status, team_id, details, started_at, last_activity_at) VALUES (?, ?, ?, ?, ?, ?)",
      row.id, row.status, row.team_id, row.details, row.started_at, row.last_activity_at,
    );
    this.currentCache = undefined;
  }
  /**
   * Updates columns; a change the archive keeps bumps the version (what the
   * archive compares), so a customer typing away does not re-archive the row.
   */
  updateConversation(id: string, changes: Partial<Omit<ConversationRow, "id" | "version" | "archived_version">>): void {
    const keys = Object.keys(changes) as (keyof typeof changes)[];
    if (!keys.length) return;
    const bump = keys.some((k) => !LIVE_ONLY.has(k)) ? 1 : 0;
    const sets = keys.map((k) => `${k} = ?`).join(", ");
    this.sql.exec(`UPDATE conversations SET ${sets}, version = version + ? WHERE id = ?`, ...keys.map((k) => changes[k] ?? null), bump, id);
    const cached = this.currentCache;
    if ("merged_into" in changes) {
      this.currentCache = undefined; // which conversation is current may change
    } else if (cached?.id === id) {
      // A new object: callers holding the row from before the write keep seeing it as it was.
      const next = { ...cached, version: cached.version + bump } as Record<string, unknown>;
      for (const k of keys) next[k] = changes[k] ?? null;
      this.currentCache = next as ConversationRow;
    }
  }
  markArchived(id: string, version: number): void {
    this.sql.exec("UPDATE conversations SET archived_version = ? WHERE id = ? AND archived_version < ?", version, id, version);
    const cached = this.currentCache;
    if (cached?.id === id && cached.archived_version < version) this.currentCache = { ...cached, archived_version: version };
  }
  unarchivedConversations(): ConversationRow[] {
    return this.sql.exec<ConversationRow>("SELECT * FROM conversations WHERE version > archived_version").toArray();
  }

  // ── participants ──
  participants(conversationId: string): { id: string; name: string }[] {
    let list = this.participantsCache.get(conversationId);
    if (!list) {
      list = this.sql.exec<{ id: string; name: string }>("SELECT agent_id AS id, name FROM participants WHERE conversation_id = ? ORDER BY joined_at", conversationId).toArray();
      this.participantsCache.set(conversationId, list);
    }
    return list;
  }
  addParticipant(conversationId: string, agentId: string, name: string, at: number): boolean {
    const added = this.sql.exec("INSERT OR IGNORE INTO participants (conversation_id, agent_id, name, joined_at) VALUES (?, ?, ?, ?)", conversationId, agentId, name, at).rowsWritten > 0;
    // The newest joiner goes last, as ORDER BY joined_at has it.
    const cached = this.participantsCache.get(conversationId);
    if (added && cached) this.participantsCache.set(conversationId, [...cached, { id: agentId, name }]);
    return added;
  }
  removeParticipant(conversationId: string, agentId: string): boolean {
    const removed = this.sql.exec("DELETE FROM participants WHERE conversation_id = ? AND agent_id = ?", conversationId, agentId).rowsWritten > 0;
    const cached = this.participantsCache.get(conversationId);
    if (removed && cached) this.participantsCache.set(conversationId, cached.filter((p) => p.id !== agentId));
    return removed;
  }

  // ── messages ──
  lastSeq(): number {
    this.lastSeqCache ??= this.sql.exec<{ s: number | null }>("SELECT MAX(seq) AS s FROM messages").toArray()[0].s ?? 0;
    return this.lastSeqCache;
  }
  byClientId(clientId: string): (RoomMessage & { authorKey: string }) | null {
    const row = this.sql.exec<MessageRow>("SELECT * FROM messages WHERE client_id = ?", clientId).toArray()[0];
    return row ? { ...toMessage(row), authorKey: `${row.author_type}:${row.author_id}` } : null;
  }
  byProviderId(providerId: string): RoomMessage | null {
    const row = this.sql.exec<MessageRow>("SELECT * FROM messages WHERE provider_id = ?", providerId).toArray()[0];
    return row ? toMessage(row) : null;
  }
  insertMessage(m: NewMessage, now: number): RoomMessage {
    const message = this.insertMessageOnce(m, now);
    if (!message) throw new Error(`client id ${m.clientId} is already stored`);
    return message;
  }
  /**
   * Inserts unless a message with the same client id is stored (then null):
   * the duplicate check and the insert in one statement, on the per-message path.
   */
  insertMessageOnce(m: NewMessage, now: number): RoomMessage | null {
    const seq = this.lastSeq() + 1;
    const data = m.data ? JSON.stringify(m.data) : null;
    const inserted = this.sql.exec(
      `INSERT INTO messages (seq, conversation_id, kind, author_type, author_id, author_name, client_id, body, data, internal, provider_id, delivery_status, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(client_id) WHERE client_id IS NOT NULL DO NOTHING`,
      seq, m.conversationId, m.kind, m.author.type, m.author.id, m.author.name, m.clientId ?? null, m.body, data,
      m.internal ? 1 : 0, m.providerId ?? null, m.deliveryStatus ?? null, now,
    ).rowsWritten;
    if (!inserted) return null;
    this.lastSeqCache = seq;
    const message: RoomMessage = {
      seq,
      conversationId: m.conversationId,
      kind: m.kind,
      author: m.author,
      clientId: m.clientId ?? null,
      body: m.body,
      data: m.data ?? null,
      internal: m.internal,
      providerId: m.providerId ?? null,
      deliveryStatus: m.deliveryStatus ?? null,
      createdAt: now,
    };
    if (isConversationLine(message)) this.lastLineCache = message;
    return message;
  }
  /** Messages after `afterSeq`, oldest first, at most `limit`; of the `conversationIds` only, unless null. */
  messagesAfter(afterSeq: number, limit: number, includeInternal: boolean, conversationIds: readonly string[] | null = null): RoomMessage[] {
    const only = onlyOf(includeInternal, conversationIds);
    return this.sql
      .exec<MessageRow>(`SELECT * FROM messages WHERE seq > ? ${only.sql} ORDER BY seq LIMIT ?`, afterSeq, ...only.binds, limit)
      .toArray()
      .map(toMessage);
  }
  /** The newest `limit` messages before `beforeSeq`, oldest first; of the `conversationIds` only, unless null. */
  messagesBefore(beforeSeq: number, limit: number, includeInternal: boolean, conversationIds: readonly string[] | null = null): RoomMessage[] {
    const only = onlyOf(includeInternal, conversationIds);
    return this.sql
      .exec<MessageRow>(`SELECT * FROM messages WHERE seq < ? ${only.sql} ORDER BY seq DESC LIMIT ?`, beforeSeq, ...only.binds, limit)
      .toArray()
      .map(toMessage)
      .reverse();
  }
  /** The conversations whose messages carry the file `key` (none: not sent yet, only uploaded). */
  conversationsWithFile(key: string): string[] {
    return this.sql
      .exec<{ conversation_id: string }>(
        "SELECT DISTINCT m.conversation_id FROM messages m, json_each(m.data, '$.attachments') a WHERE m.data IS NOT NULL AND json_extract(a.value, '$.key') = ?",
        key,
      )
      .toArray()
      .map((r) => r.conversation_id);
  }
  /** The newest message both sides see that is not an event line: what a list row previews. */
  lastConversationLine(): RoomMessage | null {
    if (this.lastLineCache === undefined) {
      const row = this.sql.exec<MessageRow>(`SELECT * ${LAST_LINE}`).toArray()[0];
      this.lastLineCache = row ? toMessage(row) : null;
    }
    return this.lastLineCache;
  }
  countAfter(afterSeq: number, includeInternal: boolean): number {
    return this.sql.exec<{ n: number }>(`SELECT COUNT(*) AS n FROM messages WHERE seq > ? ${includeInternal ? "" : "AND internal = 0"}`, afterSeq).toArray()[0].n;
  }
  setDelivery(seq: number, status: DeliveryStatus, providerId: string | null): void {
    this.sql.exec("UPDATE messages SET delivery_status = ?, provider_id = COALESCE(?, provider_id), flushed = 0 WHERE seq = ?", status, providerId, seq);
    if (this.lastLineCache?.seq === seq) this.lastLineCache = undefined;
  }
  moveMessages(fromConversationId: string, toConversationId: string): number {
    this.lastLineCache = undefined;
    return this.sql.exec("UPDATE messages SET conversation_id = ?, flushed = 0 WHERE conversation_id = ?", toConversationId, fromConversationId).rowsWritten;
  }
  /**
   * Archive states: 0 = changed since the last flush, 2 = being written to D1,
   * 1 = archived. A change during the D1 write sets 0 again, so finishing the
   * flush (2 → 1) never hides it.
   */
  takeUnflushed(limit: number): RoomMessage[] {
    if (!this.flushRecovered) {
      // A flush cut off by eviction left rows "being written": this first flush writes them again.
      this.finishFlush(false);
      this.flushRecovered = true;
    }
    const rows = this.sql.exec<MessageRow>("SELECT * FROM messages WHERE flushed = 0 ORDER BY seq LIMIT ?", limit).toArray();
    if (rows.length) this.sql.exec("UPDATE messages SET flushed = 2 WHERE flushed = 0 AND seq <= ?", rows[rows.length - 1].seq);
    return rows.map(toMessage);
  }
  finishFlush(ok: boolean): void {
    this.sql.exec("UPDATE messages SET flushed = ? WHERE flushed = 2", ok ? 1 : 0);
  }

  // ── reads ──
  reads(): Record<string, number> {
    if (!this.readsCache) {
      this.readsCache = {};
      for (const r of this.sql.exec<{ reader: string; seq: number }>("SELECT reader, seq FROM reads")) this.readsCache[r.reader] = r.seq;
    }
    return { ...this.readsCache };
  }
  /** Moves a read pointer forward only; returns true when it moved. */
  markRead(reader: string, seq: number): boolean {
    const moved =
      this.sql.exec("INSERT INTO reads (reader, seq) VALUES (?, ?) ON CONFLICT(reader) DO UPDATE SET seq = excluded.seq WHERE excluded.seq > reads.seq", reader, seq)
        .rowsWritten > 0;
    if (moved && this.readsCache) this.readsCache[reader] = seq;
    return moved;
  }

  transaction<T>(fn: () => T): T {
    try {
      return this.storage.transactionSync(fn);
    } catch (err) {
      // Rolled back: the caches may hold values from the undone writes.
      this.dropCaches();
      throw err;
    }
  }

  /** Forgets every in-memory copy; the next read goes to SQLite (after a rollback, or storage changed underneath). */
  dropCaches(): void {
    this.lastSeqCache = null;
    this.currentCache = undefined;
    this.metaCache.clear();
    this.metaLoaded = false;
    this.participantsCache.clear();
    this.readsCache = null;
    this.lastLineCache = undefined;
  }
}

/** The WHERE clause narrowing a message read to what its reader gets (see messagesBefore). */
function onlyOf(includeInternal: boolean, conversationIds: readonly string[] | null): { sql: string; binds: string[] } {
  const internal = includeInternal ? "" : "AND internal = 0";
  if (!conversationIds) return { sql: internal, binds: [] };
  if (!conversationIds.length) return { sql: `${internal} AND 0`, binds: [] };
  return { sql: `${internal} AND conversation_id IN (${conversationIds.map(() => "?").join(", ")})`, binds: [...conversationIds] };
}

/** What a list row previews: a message both sides see, not an event line, not the bot's menus and greetings (LAST_LINE in SQL). */
const isConversationLine = (m: RoomMessage) => !m.internal && m.kind !== "event" && m.author.type !== "bot";

function toMessage(r: MessageRow): RoomMessage {
  return {
    seq: r.seq,
    conversationId: r.conversation_id,
    kind: r.kind,
    author: { type: r.author_type, id: r.author_id, name: r.author_name },
    clientId: r.client_id,
    body: r.body,
    data: r.data ? (JSON.parse(r.data) as Record<string, unknown>) : null,
    internal: !!r.internal,
    providerId: r.provider_id,
    deliveryStatus: r.delivery_status,
    createdAt: r.created_at,
  };
}

export function toConversation(row: ConversationRow, address: RoomAddress, participants: { id: string; name: string }[], contactName: string | null): Conversation {
  return {
    id: row.id,
    roomId: address.roomId,
    inboxId: address.inboxId,
    teamId: row.team_id,
    status: row.status,
    closeReason: row.close_reason,
    closeComment: row.close_comment,
    title: row.title,
    tags: JSON.parse(row.tags) as string[],
    flagged: !!row.flagged,
    critical: !!row.critical,
    criticalComment: row.critical_comment,
    assignee: row.assignee_id ? { id: row.assignee_id, name: row.assignee_name ?? "" } : null,
    participants,
    csat: { requested: !!row.csat_requested, score: row.csat_score, comment: row.csat_comment },
    details: JSON.parse(row.details) as Record<string, string>,
    contact: { key: address.contactKey, name: contactName },
    startedAt: row.started_at,
    closedAt: row.closed_at,
    mergedInto: row.merged_into,
  };
}
