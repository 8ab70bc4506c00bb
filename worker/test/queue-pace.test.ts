// The waiting customer's estimate (SPEC §6) from the team's recent hand-overs.
import { describe, expect, it } from "vitest";
import { QueuePace } from "../teams/queue-pace";

const MIN = 60_000;

describe("queue pace", () => {
  it("with a backlog, the gaps between hand-overs are the pace; a burst of one assignment pass counts as one step", () => {
    const pace = new QueuePace();
    // Five chats queued at 0; two handed out together at 1 min, then one each at 3 and 5 min.
    pace.record(1 * MIN, 0);
    pace.record(1 * MIN, 0);
    pace.record(3 * MIN, 0);
    pace.record(5 * MIN, 0);
    expect(pace.estimateSeconds(1, 5 * MIN)).toBe(120);
    expect(pace.estimateSeconds(3, 5 * MIN)).toBe(360);
  });

  it("without a backlog (chats picked up as they came), the typical recent wait per place in the queue", () => {
    const pace = new QueuePace();
    // Each chat arrived after the previous was taken, and waited 30 s, 40 s, 50 s.
    pace.record(10 * MIN, 10 * MIN - 30_000);
    pace.record(20 * MIN, 20 * MIN - 40_000);
    pace.record(30 * MIN, 30 * MIN - 50_000);
    expect(pace.estimateSeconds(1, 30 * MIN)).toBe(40);
    expect(pace.estimateSeconds(2, 30 * MIN)).toBe(80);
  });

  it("says nothing from hand-overs older than half an hour", () => {
    const pace = new QueuePace();
    expect(pace.estimateSeconds(1, 0)).toBeNull();
    pace.record(0, 0);
    expect(pace.estimateSeconds(1, 29 * MIN)).toBe(0);
    expect(pace.estimateSeconds(1, 31 * MIN)).toBeNull();
  });
});
