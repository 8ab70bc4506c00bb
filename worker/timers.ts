// One alarm per Durable Object, multiplexed over a `timers` table (ARCHITECTURE
// "Timers"). Timers live in storage, so they survive eviction and restarts;
// handlers must be idempotent because alarms are delivered at least once.

export interface DueTimer {
  kind: string;
  key: string;
  dueAt: number;
  payload: string | null;
}

export const TIMERS_SCHEMA = [
  `CREATE TABLE IF NOT EXISTS timers (
    kind TEXT NOT NULL, key TEXT NOT NULL, due_at INTEGER NOT NULL, payload TEXT,
    PRIMARY KEY (kind, key))`,
  "CREATE INDEX IF NOT EXISTS timers_due ON timers(due_at)",
];

/** A due timer's handler has this long before the timer counts as not done and runs again (see runDue). */
export const LEASE_MS = 30_000;

export class Timers {
  /**
   * The alarm time we last set (null: none), so the hot path does not touch the
   * alarm; undefined = unknown (a fresh instance that was not told, see `woke`).
   */
  private alarmAt: number | null | undefined = undefined;

  /** `createSchema` false: the owner keeps TIMERS_SCHEMA in its own versioned schema (a room wakes too often to re-run DDL). */
  constructor(private readonly storage: DurableObjectStorage, createSchema = true) {
    if (createSchema) for (const statement of TIMERS_SCHEMA) storage.sql.exec(statement);
  }

  /**
   * The owner read the earliest timer as it woke (null: none). The alarm is
   * never later than the earliest timer, so treating it as set there is safe:
   * at worst an earlier alarm goes off with nothing due and re-arms.
   */
  woke(earliest: number | null): void {
    this.alarmAt = earliest;
  }

  /** Schedules (or moves) the timer (kind, key). */
  set(kind: string, key: string, dueAt: number, payload: string | null = null): void {
    this.storage.sql.exec(
      "INSERT INTO timers (kind, key, due_at, payload) VALUES (?, ?, ?, ?) ON CONFLICT(kind, key) DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload",
      kind, key, dueAt, payload,
    );
    this.release(kind, key);
    this.ensureAlarm(dueAt);
  }

  /**
   * Schedules only if no timer (kind, key) exists or the existing one is later
   * (one statement: it runs for every message that needs an archive flush).
   */
  setIfEarlier(kind: string, key: string, dueAt: number, payload: string | null = null): void {
    // The timer whose handler is running is gone as far as anyone scheduling it again is concerned.
    if (this.isRunning(kind, key)) return this.set(kind, key, dueAt, payload);
    const written = this.storage.sql
      .exec(
        `INSERT INTO timers (kind, key, due_at, payload) VALUES (?, ?, ?, ?)
         ON CONFLICT(kind, key) DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload WHERE excluded.due_at < timers.due_at`,
        kind, key, dueAt, payload,
      ).rowsWritten > 0;
    if (written) this.ensureAlarm(dueAt);
  }

  has(kind: string, key: string): boolean {
    return this.storage.sql.exec("SELECT 1 FROM timers WHERE kind = ? AND key = ?", kind, key).toArray().length > 0 && !this.isRunning(kind, key);
  }

  /** The timer whose handler runs now (see runDue) while its row is still the lease: set or cleared since, it is not. */
  private running: { kind: string; key: string } | null = null;

  private isRunning(kind: string, key: string): boolean {
    return this.running?.kind === kind && this.running.key === key;
  }

  private release(kind: string | null, key: string): void {
    if (this.running?.key === key && (kind === null || this.running.kind === kind)) this.running = null;
  }

  clear(kind: string, key: string): void {
    this.storage.sql.exec("DELETE FROM timers WHERE kind = ? AND key = ?", kind, key);
    this.release(kind, key);
  }

  clearKey(key: string): void {
    this.storage.sql.exec("DELETE FROM timers WHERE key = ?", key);
    this.release(null, key);
  }

  list(): DueTimer[] {
    return this.storage.sql
      .exec<{ kind: string; key: string; due_at: number; payload: string | null }>("SELECT kind, key, due_at, payload FROM timers ORDER BY due_at")
      .toArray()
      .map((r) => ({ kind: r.kind, key: r.key, dueAt: r.due_at, payload: r.payload }));
  }

  /**
   * Runs every due timer through `handle` (each removed once its handler is
   * done, unless the handler re-scheduled it), then re-arms the alarm for the
   * next one.
   */
  async runDue(handle: (timer: DueTimer) => Promise<void> | void, now = Date.now()): Promise<void> {
    this.alarmAt = undefined;
    const due = this.storage.sql
      .exec<{ kind: string; key: string; due_at: number; payload: string | null }>("SELECT kind, key, due_at, payload FROM timers WHERE due_at <= ? ORDER BY due_at", now)
      .toArray();
    for (const r of due) {
      // Leased, not deleted, while its handler runs: handlers wait on D1 or another object, and an
      // object evicted meanwhile (a deploy) must still find the timer, LEASE_MS on. Only this exact
      // instance is touched: a handler may move it (then its new time stands).
      const leased = Date.now() + LEASE_MS;
      this.storage.sql.exec("UPDATE timers SET due_at = ? WHERE kind = ? AND key = ? AND due_at = ?", leased, r.kind, r.key, r.due_at);
      this.running = { kind: r.kind, key: r.key };
      try {
        await handle({ kind: r.kind, key: r.key, dueAt: r.due_at, payload: r.payload });
        this.storage.sql.exec("DELETE FROM timers WHERE kind = ? AND key = ? AND due_at = ?", r.kind, r.key, leased);
      } catch (err) {
        // A failing handler must not starve the others; retry it shortly.
        console.error(JSON.stringify({ level: "error", msg: "timer failed", kind: r.kind, key: r.key, error: String(err) }));
        this.set(r.kind, r.key, Date.now() + 5_000, r.payload);
      } finally {
        this.running = null;
      }
    }
    await this.rearm();
  }

  /** Points the alarm at the earliest timer (or deletes it when none is left). */
  async rearm(): Promise<void> {
    const next = this.storage.sql.exec<{ due_at: number }>("SELECT MIN(due_at) AS due_at FROM timers").toArray()[0]?.due_at ?? null;
    if (next === null) {
      await this.storage.deleteAlarm();
      this.alarmAt = null;
    } else {
      await this.storage.setAlarm(next);
      this.alarmAt = next;
    }
  }

  private ensureAlarm(dueAt: number): void {
    if (this.alarmAt != null && this.alarmAt <= dueAt) return;
    // Unknown (fresh instance after eviction): the table is the truth. None or later: this one is the earliest.
    const next = this.alarmAt === undefined ? this.storage.sql.exec<{ due_at: number }>("SELECT MIN(due_at) AS due_at FROM timers").toArray()[0].due_at : dueAt;
    this.alarmAt = next;
    // Not awaited: like every storage write, the output gate holds replies until it lands.
    void this.storage.setAlarm(next);
  }
}
