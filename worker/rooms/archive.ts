// Archive: the room writes its conversations and messages to D1 in batches
// (an alarm a moment after the first unflushed change, and at once on close),
// so D1 stays off the message hot path. Upserts make a repeated flush harmless.
import type { RoomAddress } from "../rpc";
import type { RoomStore } from "./room-store";

const BATCH = 200;
/** Characters per bound JSON array: at most 4 UTF-8 bytes each, well under D1's 2 MB per value. */
const CHUNK_CHARS = 400_000;

/** Returns true when more is left to flush. */
export async function flushArchive(db: D1Database, store: RoomStore, address: RoomAddress): Promise<boolean> {
  const conversations = store.unarchivedConversations();
  const messages = store.takeUnflushed(BATCH);
  if (!conversations.length && !messages.length) return false;
  const now = Date.now();
  // The first flush also creates the D1 contact, in the same batch (one round trip, not three);
  // conversations take the contact from the identity row, whoever created it.
  const contact = store.getMeta<string>("contactId") ? null : contactStatements(db, store, address);
  const statements: D1PreparedStatement[] = [
    ...(contact?.create ?? []),
    ...conversations.map((c) =>
      db
        .prepare(
          `INSERT INTO conversations (id, room_id, inbox_id, team_id, contact_key, contact_id, status, close_reason, close_comment, title, tags,
             flagged, critical, assignee_id, csat_score, csat_comment, details, merged_into, first_response_at, closed_at, created_at, updated_at)
           VALUES (?1, ?2, ?3, ?4, ?5, (SELECT contact_id FROM contact_identities WHERE inbox_id = ?3 AND external_id = ?5),
             ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21)
           ON CONFLICT(id) DO UPDATE SET team_id = excluded.team_id, status = excluded.status, close_reason = excluded.close_reason,
             close_comment = excluded.close_comment, title = excluded.title, tags = excluded.tags, flagged = excluded.flagged,
             critical = excluded.critical, assignee_id = excluded.assignee_id, csat_score = excluded.csat_score,
             csat_comment = excluded.csat_comment, merged_into = excluded.merged_into, contact_id = excluded.contact_id,
             first_response_at = excluded.first_response_at, closed_at = excluded.closed_at, created_at = excluded.created_at, updated_at = excluded.updated_at`,
        )
        .bind(
          c.id, address.roomId, address.inboxId, c.team_id, address.contactKey, c.status, c.close_reason, c.close_comment, c.title, c.tags,
          c.flagged, c.critical, c.assignee_id, c.csat_score, c.csat_comment, c.details, c.merged_into, c.first_response_at, c.closed_at, c.started_at, now,
        ),
    ),
  ];
  // The rows travel as one JSON array per statement (a D1 statement binds at most 100 values,
  // so a value per column would take a statement per 7 rows), split so no bound string nears
  // D1's 2 MB value limit (16 KB texts × 200 would not fit in one).
  for (const chunk of jsonChunks(messages.map((m) => [
    m.seq, m.conversationId, m.kind, m.author.type, m.author.id, m.author.name,
    m.clientId, m.body, m.data ? JSON.stringify(m.data) : null, m.internal ? 1 : 0, m.providerId, m.deliveryStatus, m.createdAt,
  ]))) {
    statements.push(
      db
        .prepare(
          `INSERT INTO messages (room_id, seq, conversation_id, kind, author_type, author_id, author_name, client_id, body, data, internal, provider_id, delivery_status, created_at)
           SELECT ?1, r.value ->> 0, r.value ->> 1, r.value ->> 2, r.value ->> 3, r.value ->> 4, r.value ->> 5, r.value ->> 6,
             r.value ->> 7, r.value ->> 8, r.value ->> 9, r.value ->> 10, r.value ->> 11, r.value ->> 12
           FROM json_each(?2) AS r WHERE true
           ON CONFLICT(room_id, seq) DO UPDATE SET conversation_id = excluded.conversation_id,
             provider_id = excluded.provider_id, delivery_status = excluded.delivery_status`,
        )
        .bind(address.roomId, chunk),
    );
  }
  if (contact) statements.push(contact.read);
  let results: D1Result[];
  try {
    results = await db.batch(statements);
  } catch (err) {
    store.finishFlush(false);
    throw err;
  }
  if (contact) {
    // The identity may have existed already (then no contact was created): it says which contact is ours.
    const row = (results[results.length - 1].results as { contact_id: string }[])[0];
    if (row) store.setMeta("contactId", row.contact_id);
  }
  // Only what was written is marked; anything that changed meanwhile is flushed next time.
  store.transaction(() => {
    for (const c of conversations) store.markArchived(c.id, c.version);
    store.finishFlush(true);
  });
  return messages.length === BATCH;
}

/**
 * The D1 contact behind this room, created on the first flush: a contact and
 * its identity (inbox + contact key) unless the identity exists, then a read
 * of the identity's contact (remembered, so later flushes skip all three).
 */
function contactStatements(db: D1Database, store: RoomStore, address: RoomAddress) {
  const id = crypto.randomUUID();
  return {
    id,
    create: [
      // Not for an inbox deleted meanwhile: its identity could not be stored (foreign key), and
      // that error would fail the whole batch, the messages' archive with it, at every try.
      db.prepare(
        "INSERT INTO contacts (id, name) SELECT ?, ? WHERE NOT EXISTS (SELECT 1 FROM contact_identities WHERE inbox_id = ? AND external_id = ?) AND EXISTS (SELECT 1 FROM inboxes WHERE id = ?)",
      ).bind(id, store.getMeta<string>("contactName"), address.inboxId, address.contactKey, address.inboxId),
      db.prepare("INSERT OR IGNORE INTO contact_identities (id, contact_id, inbox_id, external_id) SELECT ?, ?, ?, ? WHERE EXISTS (SELECT 1 FROM contacts WHERE id = ?)").bind(
        crypto.randomUUID(), id, address.inboxId, address.contactKey, id,
      ),
    ],
    read: db.prepare("SELECT contact_id FROM contact_identities WHERE inbox_id = ? AND external_id = ?").bind(address.inboxId, address.contactKey),
  };
}

/** JSON arrays of the rows, each at most CHUNK_CHARS long (a longer single row stands alone). */
function jsonChunks(rows: unknown[][]): string[] {
  const chunks: string[] = [];
  let parts: string[] = [];
  let size = 2;
  for (const row of rows) {
    const text = JSON.stringify(row);
    if (parts.length && size + text.length + 1 > CHUNK_CHARS) {
      chunks.push(`[${parts.join(",")}]`);
      parts = [];
      size = 2;
    }
    parts.push(text);
    size += text.length + 1;
  }
  if (parts.length) chunks.push(`[${parts.join(",")}]`);
  return chunks;
}
