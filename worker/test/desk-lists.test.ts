// The desk's list order (SPEC §5), on the summaries the hub sends, and the
// room's part in it: the summary says when the customer last wrote.
import { runInDurableObject } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { rowsOf } from "../../web/src/lib/desk/lists";
import type { ConversationSummary } from "../protocol";
import type { ChatRoom } from "../rooms/chat-room";
import { cid, type RoomFixture, roomStub, setupRoomFixture } from "./room-fixture";
import { isMessage } from "./ws";

const summary = (id: string, over: Partial<ConversationSummary>): ConversationSummary => ({
  id, roomId: `inbox:${id}`, inboxId: "inbox", teamId: "team", status: "open", assigneeId: "me", assigneeName: "Me", participantIds: ["me"],
  title: null, tags: [], flagged: false, critical: false, contactName: null, preview: "", lastSeq: 1, lastCustomerSeq: 1, waitingSince: null,
  lastCustomerAt: null, lastActivityAt: 0, startedAt: 0, visitorOnline: false, mentioned: [], agentReads: {}, avoidAgentId: null, version: 1, ...over,
});

describe("desk list order", () => {
  it("sorted by new customer activity, an agent's reply does not move a conversation above one the customer wrote to later", () => {
    const answered = summary("answered", { startedAt: 1, lastCustomerAt: 100, lastActivityAt: 300 }); // the agent replied at 300
    const fresh = summary("fresh", { startedAt: 2, lastCustomerAt: 200, lastActivityAt: 200 });
    const old = summary("old", { startedAt: 3, lastCustomerAt: null, lastActivityAt: 3 });
    expect(rowsOf([answered, fresh, old], "mine", "me", "activity").map((c) => c.id)).toEqual(["fresh", "answered", "old"]);
    expect(rowsOf([answered, fresh, old], "mine", "me", "newest").map((c) => c.id)).toEqual(["old", "fresh", "answered"]);
    const critical = summary("critical", { critical: true, lastCustomerAt: 1 });
    expect(rowsOf([answered, fresh, critical], "mine", "me", "activity")[0].id).toBe("critical");
  });

  it("Live serves customers who asked for a person first, oldest first, then those still with the bot", () => {
    const unassigned = { assigneeId: null, assigneeName: null, participantIds: [] };
    const withBot = summary("with-bot", { ...unassigned, status: "bot", startedAt: 1 });
    const waitingLong = summary("waiting-long", { ...unassigned, status: "queued", startedAt: 5, waitingSince: 10 });
    const waitingNew = summary("waiting-new", { ...unassigned, status: "queued", startedAt: 2, waitingSince: 20 });
    expect(rowsOf([withBot, waitingNew, waitingLong], "live", "me", "activity").map((c) => c.id)).toEqual(["waiting-long", "waiting-new", "with-bot"]);
  });
});

describe("the room's summary", () => {
  let f: RoomFixture;
  beforeAll(async () => {
    f = await setupRoomFixture();
  });

  it("carries when the customer last wrote, which an agent's reply leaves alone", async () => {
    const { v, visitor, agent } = await f.assignedConversation();
    const read = () => runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.summaryForHub()!);
    const afterCustomer = await read();
    expect(afterCustomer.lastCustomerAt).toEqual(expect.any(Number));
    await new Promise((r) => setTimeout(r, 5));
    agent.send({ type: "send", clientId: cid(), body: "Agent reply" });
    await visitor.next(isMessage("Agent reply"));
    const afterAgent = await read();
    expect(afterAgent.lastCustomerAt).toBe(afterCustomer.lastCustomerAt);
    expect(afterAgent.lastActivityAt).toBeGreaterThan(afterCustomer.lastCustomerAt!);
    await f.closeAll();
  });
});
