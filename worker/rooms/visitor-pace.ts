// How fast a web visitor may write: a token bucket per room, in memory (a
// runaway widget or a script with a token must not flood the room, the hub
// and the archive). A person never notices it: the bucket holds a quarter of
// a minute's budget, so a burst of pasted lines goes through, and it refills
// continuously. It starts full in a new instance; eviction only forgives.

export class VisitorPace {
  private tokens: number | null = null;
  private at = 0;

  /** Takes one message from a budget of `perMinute`; false when the visitor must wait. */
  take(perMinute: number, now = Date.now()): boolean {
    const capacity = Math.max(10, Math.floor(perMinute / 4));
    const refilled = this.tokens === null ? capacity : Math.min(capacity, this.tokens + ((now - this.at) * perMinute) / 60_000);
    this.at = now;
    if (refilled < 1) {
      this.tokens = refilled;
      return false;
    }
    this.tokens = refilled - 1;
    return true;
  }

  /** Seconds until the next message is allowed (for the refusal's message). */
  waitSeconds(perMinute: number): number {
    return Math.max(1, Math.ceil(((1 - (this.tokens ?? 1)) * 60) / perMinute));
  }
}
