// The archive's view of hand-overs from the queue. A room does not arm an
// archive flush for one (they come in bursts: a whole queue when agents come
// online, each room woken cold), so its D1 row would show the conversation
// queued until the room's next flush. The hub sees every hand-over's outcome:
// it marks them in D1 a moment later, all in one statement, and the room's
// next flush writes the rest (the "joined" line among it).
//
// Best effort by design: the list is in memory (an evicted hub leaves those
// rows to the rooms' next flushes, as before), and a row is only moved on from
// queued, and only if nothing newer reached it since the hand-over.
import type { ConversationSummary } from "../protocol";
import type { Timers } from "../timers";

/** A hand-over reaches D1 about this long after it, with the others of its burst. */
export const HAND_OVER_ARCHIVE_MS = 5000;

interface HandOver {
  status: string;
  assigneeId: string | null;
  at: number;
}

export class HandOverArchive {
  private readonly pending = new Map<string, HandOver>();

  constructor(
    private readonly db: D1Database,
    private readonly timers: Timers,
  ) {}

  /** A conversation that waited in the queue was handed over at `at`; `s` is the room's summary after it. */
  note(s: ConversationSummary, at: number): void {
    if (!this.pending.size) this.timers.setIfEarlier("archive", "hand-overs", at + HAND_OVER_ARCHIVE_MS);
    this.pending.set(s.id, { status: s.status, assigneeId: s.assigneeId, at });
  }

  /** The `archive` timer: one UPDATE for every hand-over noted since the last. */
  async write(): Promise<void> {
    if (!this.pending.size) return;
    const rows = [...this.pending].map(([id, h]) => [id, h.status, h.assigneeId, h.at]);
    this.pending.clear();
    try {
      await this.db
        .prepare(
          `UPDATE conversations SET status = h.value ->> 1, assignee_id = h.value ->> 2, updated_at = h.value ->> 3
           FROM json_each(?1) AS h
           WHERE conversations.id = h.value ->> 0 AND conversations.status IN ('queued', 'bot') AND conversations.updated_at <= h.value ->> 3`,
        )
        .bind(JSON.stringify(rows))
        .run();
    } catch (err) {
      // The rooms' next flushes still write them; this was only the early copy.
      console.error(JSON.stringify({ level: "warn", msg: "hand-over archive write failed", rows: rows.length, error: String(err) }));
    }
  }
}
