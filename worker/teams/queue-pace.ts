// How long a waiting customer can expect to wait (SPEC §6), from how this
// team took chats out of its queue lately. The hub stores the list (one write
// per assignment pass), so an idle hub that was evicted still has it.

/** Hand-overs older than this say little about now. */
const WINDOW_MS = 30 * 60_000;
const KEEP = 50;

export interface HandOver {
  at: number;
  /** How long that chat had waited in the queue. */
  waitedMs: number;
}

export class QueuePace {
  constructor(private handOvers: HandOver[] = []) {}

  /** What to store. */
  list(): HandOver[] {
    return this.handOvers;
  }

  /** A queued chat was handed to an agent at `at`, having waited since `queuedAt`. */
  record(at: number, queuedAt: number): void {
    this.handOvers.push({ at, waitedMs: Math.max(0, at - queuedAt) });
    if (this.handOvers.length > KEEP) this.handOvers.shift();
  }

  /**
   * Seconds until the chat at `position` (1 = next) is likely handed over.
   * While the queue had a backlog (a chat handed over had been waiting since
   * before the previous hand-over) the gaps between hand-overs are the pace,
   * and `position` of them are ahead. With no backlog lately, chats were
   * picked up as they came: then the typical wait of recent ones, per place
   * in the queue. Null without any recent hand-over.
   */
  estimateSeconds(position: number, now: number): number | null {
    this.handOvers = this.handOvers.filter((h) => now - h.at <= WINDOW_MS);
    const recent = this.handOvers;
    if (!recent.length) return null;
    const gaps: number[] = [];
    for (let i = 1; i < recent.length; i++) {
      const gap = recent[i].at - recent[i - 1].at;
      const backlog = recent[i].at - recent[i].waitedMs <= recent[i - 1].at;
      // Hand-overs of one assignment pass share a moment: together they are one step of the pace.
      if (backlog && gap > 0) gaps.push(gap);
    }
    const perPlace = gaps.length ? mean(gaps) : median(recent.map((h) => h.waitedMs));
    return Math.round((position * perPlace) / 1000);
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
