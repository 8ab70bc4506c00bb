// The timers table behind every Durable Object's one alarm (worker/timers.ts),
// driven on a room's real storage.
import { runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import type { ChatRoom } from "../rooms/chat-room";
import { LEASE_MS } from "../timers";
import { roomStub } from "./room-fixture";

const room = () => roomStub(`timers-test:${crypto.randomUUID()}`);
const rows = (r: ChatRoom) => r.timers.list().filter((t) => t.kind.startsWith("test"));

describe("timers", () => {
  it("a timer whose handler never finished (the object was evicted while it waited) is still there, and runs again a lease later", async () => {
    await runInDurableObject(room(), async (r: ChatRoom) => {
      const start = Date.now();
      r.timers.set("test", "flush", start - 1);
      let started = false;
      // The handler waits on the network forever: as far as storage knows, the object went away mid-handler.
      void r.timers.runDue(() => {
        started = true;
        return new Promise<void>(() => {});
      });
      expect(started).toBe(true);
      const [left] = rows(r);
      expect(left.key).toBe("flush");
      expect(left.dueAt).toBeGreaterThanOrEqual(start + LEASE_MS);
    });
  });

  it("a finished handler's timer is gone; one the handler moved keeps its new time; scheduling it again while it runs is not lost", async () => {
    await runInDurableObject(room(), async (r: ChatRoom) => {
      const now = Date.now();
      r.timers.set("test-done", "a", now - 3);
      r.timers.set("test-moved", "b", now - 2);
      r.timers.set("test-again", "c", now - 1);
      await r.timers.runDue((t) => {
        if (t.kind === "test-moved") r.timers.set("test-moved", "b", now + 1_000);
        // As the hub's claim sweep does: "no later than" a time beyond the lease.
        if (t.kind === "test-again") r.timers.setIfEarlier("test-again", "c", now + 10 * LEASE_MS);
      });
      expect(rows(r).map((t) => [t.kind, t.dueAt])).toEqual([
        ["test-moved", now + 1_000],
        ["test-again", now + 10 * LEASE_MS],
      ]);
      expect(r.timers.has("test-done", "a")).toBe(false);
    });
  });
});
