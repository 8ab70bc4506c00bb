import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { Env } from "../env";
import type { ChatRoom } from "../rooms/chat-room";
import { HAND_OVER_ARCHIVE_MS } from "../teams/hand-over-archive";
import type { TeamHub } from "../teams/team-hub";
import { call, login, seedAgent, seedInbox } from "./helpers";
import { cid, type RoomFixture, roomStub, setupRoomFixture } from "./room-fixture";
import { isEvent, isMessage, openSocket, type TestSocket } from "./ws";

let f: RoomFixture;
beforeAll(async () => {
  // A generous visitor budget: one test writes hundreds of messages at once.
  f = await setupRoomFixture({ agentResponseTimeoutSeconds: 120 }, { visitorMessagesPerMinute: 100_000 });
});
afterEach(async () => {
  await f.closeAll();
});

const conversationOf = (roomId: string) => runInDurableObject(roomStub(roomId), (r: ChatRoom) => r.store.current()!);

/** Makes it later inside the room: every timer of `kind` is due now, and conversation times are shifted back. */
async function timePasses(roomId: string, kind: string, ms: number) {
  await runInDurableObject(roomStub(roomId), (r: ChatRoom, state) => {
    state.storage.sql.exec(
      `UPDATE conversations SET last_customer_at = last_customer_at - ?1, last_activity_at = last_activity_at - ?1, started_at = started_at - ?1,
         pending_since = pending_since - ?1, waiting_since = waiting_since - ?1, closed_at = closed_at - ?1`,
      ms,
    );
    state.storage.sql.exec("UPDATE timers SET due_at = ? WHERE kind = ?", Date.now() - 1, kind);
    r.store.dropCaches(); // the rows changed behind the store's back
  });
}

describe("conversation state moves", () => {
  it("open → pending → open when the customer writes → closed with feedback → CSAT stored", async () => {
    const { v, visitor, agent } = await f.assignedConversation();
    expect((await conversationOf(v.roomId)).status).toBe("open");
    agent.send({ type: "setStatus", status: "pending" });
    await agent.next((fr) => fr.type === "conversation" && fr.conversation.status === "pending");
    visitor.send({ type: "send", clientId: cid(), body: "I'm back" });
    await agent.next((fr) => fr.type === "conversation" && fr.conversation.status === "open");
    agent.send({ type: "close", reason: "resolved", comment: "Sorted", sendFeedback: true });
    await visitor.next(isEvent("csat_requested"));
    const closed = await conversationOf(v.roomId);
    expect(closed).toMatchObject({ status: "closed", close_reason: "resolved", close_comment: "Sorted", csat_requested: 1 });
    // The visitor never sees the internal close reason line.
    expect(visitor.frames.some((fr) => JSON.stringify(fr).includes("Sorted"))).toBe(false);
    visitor.send({ type: "csat", score: 5, comment: "Great help" });
    await agent.next(isEvent("csat"));
    expect(await conversationOf(v.roomId)).toMatchObject({ csat_score: 5, csat_comment: "Great help" });
  });

  it("a closed conversation is reopened by an agent inside the window, not after it", async () => {
    const { v, agent } = await f.assignedConversation();
    agent.send({ type: "close", reason: "resolved" });
    await agent.next((fr) => fr.type === "conversation" && fr.conversation.status === "closed");
    agent.send({ type: "reopen" });
    await agent.next(isEvent("reopened"));
    await agent.next((fr) => fr.type === "conversation" && fr.conversation.status === "open" && fr.conversation.assignee?.id === f.ids.sam);
    agent.send({ type: "close", reason: "abandoned" });
    await agent.next((fr) => fr.type === "conversation" && fr.conversation.status === "closed" && fr.conversation.closeReason === "abandoned");
    await timePasses(v.roomId, "window", 25 * 3600 * 1000);
    await runDurableObjectAlarm(roomStub(v.roomId)); // a closed conversation's timers do nothing
    const from = agent.frames.length;
    agent.send({ type: "reopen" });
    expect((await agent.next((fr) => fr.type === "error", from)).code).toBe("window_closed");
  });

  it("a customer writing after close starts a new conversation in the same room", async () => {
    const { v, visitor, agent } = await f.assignedConversation();
    const first = (await conversationOf(v.roomId)).id;
    agent.send({ type: "close", reason: "resolved" });
    await visitor.next(isEvent("closed"));
    visitor.send({ type: "send", clientId: cid(), body: "One more question" });
    await visitor.next(isMessage("One more question"));
    const second = await conversationOf(v.roomId);
    expect(second.id).not.toBe(first);
    expect(second.status).toBe("queued");
  });

  it("flag, critical, rename and tags change the conversation and leave internal event lines", async () => {
    const { v, visitor, agent } = await f.assignedConversation();
    agent.send({ type: "flag", on: true });
    agent.send({ type: "critical", on: true, comment: "Outage" });
    agent.send({ type: "rename", title: "Refund for order 1234" });
    agent.send({ type: "tags", tags: ["refund", "vip", "refund"] });
    await agent.next(isEvent("tagged"));
    expect(await conversationOf(v.roomId)).toMatchObject({ flagged: 1, critical: 1, critical_comment: "Outage", title: "Refund for order 1234", tags: '["refund","vip"]' });
    expect(visitor.frames.some((fr) => JSON.stringify(fr).includes("refund"))).toBe(false);
  });

  it("merging an earlier conversation of the same contact folds its messages into the current timeline", async () => {
    const { v, visitor, agent } = await f.assignedConversation();
    const earlier = (await conversationOf(v.roomId)).id;
    agent.send({ type: "close", reason: "resolved" });
    await visitor.next(isEvent("closed"));
    visitor.send({ type: "send", clientId: cid(), body: "Second episode" });
    await visitor.next(isMessage("Second episode"));
    agent.send({ type: "join" });
    await agent.next((fr) => fr.type === "conversation" && fr.conversation.status === "open" && fr.conversation.id !== earlier);
    const flush = async () => {
      await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.scheduleFlush(true));
      await runDurableObjectAlarm(roomStub(v.roomId));
    };
    await flush(); // both conversations are in the archive before the merge
    agent.send({ type: "merge", fromConversationId: earlier });
    await agent.next(isEvent("merged"));
    const state = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom, s) => ({
      current: r.store.current()!.id,
      earlier: r.store.conversation(earlier)!.merged_into,
      conversations: s.storage.sql.exec<{ c: string }>("SELECT DISTINCT conversation_id AS c FROM messages").toArray().map((x) => x.c),
    }));
    expect(state.earlier).toBe(state.current);
    expect(state.conversations).toEqual([state.current]);
    // The archive's row starts where the earlier conversation did.
    await flush();
    const archived = await env.DB.prepare("SELECT id, created_at FROM conversations WHERE id IN (?, ?)").bind(state.current, earlier).all<{ id: string; created_at: number }>();
    const startOf = (id: string) => archived.results.find((row) => row.id === id)?.created_at;
    expect(startOf(earlier)).toEqual(expect.any(Number));
    expect(startOf(state.current)).toBe(startOf(earlier));
  });

  it("merging the first of three conversations into the current one keeps the current one current", async () => {
    const { v, visitor, agent } = await f.assignedConversation();
    const first = (await conversationOf(v.roomId)).id;
    const episode = async (body: string) => {
      const closedFrom = visitor.frames.length;
      agent.send({ type: "close", reason: "resolved" });
      await visitor.next(isEvent("closed"), closedFrom);
      const from = agent.frames.length;
      visitor.send({ type: "send", clientId: cid(), body });
      await visitor.next(isMessage(body));
      agent.send({ type: "join" });
      return (await agent.next((fr) => fr.type === "conversation" && fr.conversation.status === "open", from)).conversation.id as string;
    };
    const second = await episode("Second episode");
    const third = await episode("Third episode");
    expect(new Set([first, second, third]).size).toBe(3);
    agent.send({ type: "merge", fromConversationId: first });
    await agent.next(isEvent("merged"));
    expect((await conversationOf(v.roomId)).id).toBe(third);
    const again = await f.agentSocket(f.cookies.sam, v.roomId);
    expect(again.frames.find((fr) => fr.type === "welcome").conversation).toMatchObject({ id: third, status: "open" });
    agent.send({ type: "send", clientId: cid(), body: "Still here" });
    await visitor.next(isMessage("Still here"));
    expect((await conversationOf(v.roomId)).id).toBe(third);
  });

  it("the assignee cannot leave a closed conversation back into the queue", async () => {
    const { v, visitor, agent } = await f.assignedConversation();
    agent.send({ type: "close", reason: "resolved" });
    await visitor.next(isEvent("closed"));
    const from = agent.frames.length;
    agent.send({ type: "leave" });
    expect((await agent.next((fr) => fr.type === "error", from)).code).toBe("conversation_closed");
    expect(await conversationOf(v.roomId)).toMatchObject({ status: "closed", close_reason: "resolved" });
  });

  it("a participant who is not the assignee cannot transfer to another team", async () => {
    const { v } = await f.assignedConversation();
    const ann = await f.agentSocket(f.cookies.ann, v.roomId);
    ann.send({ type: "join" });
    await ann.next(isEvent("joined"));
    ann.send({ type: "transfer", teamId: f.otherTeamId });
    expect((await ann.next((fr) => fr.type === "error")).code).toBe("forbidden");
    expect(await conversationOf(v.roomId)).toMatchObject({ team_id: f.teamId, assignee_id: f.ids.sam });
  });

  it("after its inbox moves to another team, a returning customer's new conversation queues in that team", async () => {
    const inboxId = await seedInbox(f.teamId, "web");
    const session = await (await call(`/api/v1/widget/${inboxId}/session`, { method: "POST", json: {}, headers: { "cf-connecting-ip": "10.9.9.9" } })).json<any>();
    const visitor = await openSocket(`/ws/visitor?token=${encodeURIComponent(session.token)}`);
    visitor.send({ type: "send", clientId: cid(), body: "Before the move" });
    await visitor.next(isMessage("Before the move"));
    expect((await conversationOf(session.roomId)).team_id).toBe(f.teamId);
    const mia = await f.agentSocket(f.cookies.mia, session.roomId);
    mia.send({ type: "close", reason: "resolved" });
    await visitor.next(isEvent("closed"));

    await env.DB.prepare("UPDATE inboxes SET team_id = ? WHERE id = ?").bind(f.otherTeamId, inboxId).run();
    visitor.send({ type: "send", clientId: cid(), body: "After the move" });
    await visitor.next(isMessage("After the move"));
    expect(await conversationOf(session.roomId)).toMatchObject({ team_id: f.otherTeamId, status: "queued" });
    // Mia (the old team) still had the room open: she is told and let go before the new conversation's first line.
    expect(await mia.next((fr) => fr.type === "error")).toMatchObject({ code: "forbidden" });
    expect(JSON.stringify(mia.frames)).not.toContain("After the move");
    const otto = await f.agentSocket(f.cookies.otto, session.roomId);
    expect(otto.frames.find((fr) => fr.type === "welcome").conversation.teamId).toBe(f.otherTeamId);
    await visitor.close();
  });

  it("a transfer to another team puts the conversation in that team's queue", async () => {
    const { v, agent } = await f.assignedConversation();
    agent.send({ type: "transfer", teamId: f.otherTeamId, note: "Billing question" });
    await agent.next(isEvent("transferred"));
    expect(await conversationOf(v.roomId)).toMatchObject({ team_id: f.otherTeamId, status: "queued", assignee_id: null });
    // Otto (other team) can now open it.
    const otto = await f.agentSocket(f.cookies.otto, v.roomId);
    expect(otto.frames.find((fr) => fr.type === "welcome").conversation.teamId).toBe(f.otherTeamId);
  });
});

describe("permissions", () => {
  it("nobody joins a closed conversation (they could never leave it); reopening is the way back", async () => {
    const { v, visitor, agent } = await f.assignedConversation(); // Sam's
    agent.send({ type: "close", reason: "resolved" });
    await visitor.next(isEvent("closed"));
    const ann = await f.agentSocket(f.cookies.ann, v.roomId);
    ann.send({ type: "join" });
    expect(await ann.next((fr) => fr.type === "error")).toMatchObject({ code: "conversation_closed" });
    expect(await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.store.participants(r.store.current()!.id).map((p) => p.id))).toEqual([f.ids.sam]);
    expect(visitor.frames.some((fr) => isEvent("joined")(fr))).toBe(false);
  });

  it("the event lines a customer sees carry no internal detail: not who assigned or how, not the close reason", async () => {
    const { visitor, agent } = await f.assignedConversation();
    agent.send({ type: "close", reason: "abandoned", comment: "Rude customer" });
    const closed = await visitor.next(isEvent("closed"));
    const assigned = visitor.frames.find((fr) => isEvent("assigned")(fr));
    expect(assigned.message.data).toEqual({ event: "assigned", agentId: f.ids.sam });
    expect(closed.message.data).toEqual({ event: "closed" });
    expect(JSON.stringify(visitor.frames)).not.toMatch(/abandoned|Rude customer/);
  });

  it("an agent of another team cannot open the room or act in it over HTTP", async () => {
    const { v } = await f.assignedConversation();
    const upgrade = await openSocket(`/ws/room/${encodeURIComponent(v.roomId)}`, { cookie: f.cookies.otto }).catch((e: Error) => e);
    expect(String(upgrade)).toContain("403");
    const close = await call(`/api/v1/rooms/${encodeURIComponent(v.roomId)}/close`, { method: "POST", cookie: f.cookies.otto, json: { reason: "resolved" } });
    expect(close.status).toBe(403);
    expect((await conversationOf(v.roomId)).status).toBe("open");
  });

  it("an agent of another team refused at a room that does not exist yet leaves nothing in it", async () => {
    const roomId = `${f.inboxId}:never-seen-${cid()}`;
    const read = await call(`/api/v1/rooms/${encodeURIComponent(roomId)}`, { cookie: f.cookies.otto });
    expect(read.status).toBe(404);
    const send = await call(`/api/v1/rooms/${encodeURIComponent(roomId)}/join`, { method: "POST", cookie: f.cookies.otto, json: {} });
    expect(send.status).toBe(403);
    expect(String(await openSocket(`/ws/room/${encodeURIComponent(roomId)}`, { cookie: f.cookies.otto }).catch((e: Error) => e))).toContain("403");
    // Only the empty tables every room wakes with: no address, no settings, nothing else.
    const keys = await runInDurableObject(roomStub(roomId), (_r: ChatRoom, state) => state.storage.sql.exec("SELECT key FROM meta").toArray().map((r) => r.key));
    expect(keys).toEqual(["schema"]);
  });

  it("an admin who is not in the team joins a queued conversation as a participant", async () => {
    await seedAgent({ email: "ada@room.test", name: "Ada", role: "admin" });
    const v = await f.newVisitor();
    const visitor = await f.visitorSocket(v.token);
    visitor.send({ type: "send", clientId: cid(), body: "Hello admin?" });
    await visitor.next(isMessage("Hello admin?"));
    const ada = await f.agentSocket(await login("ada@room.test"), v.roomId);
    ada.send({ type: "join" });
    await ada.next(isEvent("joined"));
    expect(ada.all("error")).toEqual([]);
    const participants = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.store.participants(r.store.current()!.id).map((p) => p.name));
    expect(participants).toEqual(["Ada"]);
    ada.send({ type: "send", clientId: cid(), body: "Ada here, how can I help?" });
    await visitor.next(isMessage("Ada here, how can I help?"));
  });

  it("an agent who is not in the conversation cannot answer the customer until they join", async () => {
    const { v } = await f.assignedConversation();
    const ann = await f.agentSocket(f.cookies.ann, v.roomId);
    ann.send({ type: "send", clientId: cid(), body: "butting in" });
    expect((await ann.next((fr) => fr.type === "error")).code).toBe("forbidden");
    ann.send({ type: "send", clientId: cid(), kind: "note", body: "a note is fine" });
    await ann.next(isMessage("a note is fine"));
    ann.send({ type: "join" });
    await ann.next(isEvent("joined"));
    ann.send({ type: "send", clientId: cid(), body: "now I can" });
    await ann.next(isMessage("now I can"));
  });

  it("a visitor token only opens its own room", async () => {
    const a = await f.newVisitor();
    const b = await f.newVisitor();
    const res = await call(`/api/v1/rooms/${encodeURIComponent(b.roomId)}`, { headers: { authorization: `Bearer ${a.token}` } });
    expect(res.status).toBe(404);
    const forged = a.token.slice(0, -3) + (a.token.endsWith("AAA") ? "BBB" : "AAA");
    expect((await call(`/api/v1/rooms/${encodeURIComponent(a.roomId)}`, { headers: { authorization: `Bearer ${forged}` } })).status).toBe(401);
    const ws = await openSocket(`/ws/visitor?token=${encodeURIComponent(forged)}`).catch((e: Error) => e);
    expect(String(ws)).toContain("401");
  });

  it("the HTTP API runs the same commands with the same checks", async () => {
    const { v, agent } = await f.assignedConversation();
    const sent = await call(`/api/v1/rooms/${encodeURIComponent(v.roomId)}/messages`, { method: "POST", cookie: f.cookies.sam, json: { clientId: cid(), body: "from the API" } });
    expect(sent.status).toBe(200);
    await agent.next(isMessage("from the API"));
    const flagged = await call(`/api/v1/rooms/${encodeURIComponent(v.roomId)}/flag`, { method: "POST", cookie: f.cookies.sam, json: { on: true } });
    expect(flagged.status).toBe(200);
    const page = await (await call(`/api/v1/rooms/${encodeURIComponent(v.roomId)}?limit=2`, { cookie: f.cookies.sam })).json<any>();
    expect(page.conversation.flagged).toBe(true);
    expect(page.messages).toHaveLength(2);
    const bad = await call(`/api/v1/rooms/${encodeURIComponent(v.roomId)}/status`, { method: "POST", cookie: f.cookies.sam, json: { status: "sleeping" } });
    expect(bad.status).toBe(400);
  });
});

describe("timers", () => {
  it("inactivity closes the conversation as expired, once, however often the alarm runs", async () => {
    const { v, visitor } = await f.assignedConversation();
    await timePasses(v.roomId, "inactivity", 25 * 3600 * 1000);
    await runDurableObjectAlarm(roomStub(v.roomId));
    await visitor.next(isEvent("closed"));
    const closed = await conversationOf(v.roomId);
    expect(closed).toMatchObject({ status: "closed", close_reason: "expired" });
    const eventsBefore = visitor.all("message").length;
    // The alarm again (at-least-once delivery), with the timer forced due: nothing changes.
    await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.timers.set("inactivity", closed.id, Date.now() - 1));
    await runDurableObjectAlarm(roomStub(v.roomId));
    await runDurableObjectAlarm(roomStub(v.roomId));
    expect(visitor.all("message").length).toBe(eventsBefore);
    expect(await conversationOf(v.roomId)).toMatchObject({ status: "closed", close_reason: "expired", closed_at: closed.closed_at, version: closed.version });
  });

  it("a flagged conversation is exempt from the inactivity and window timeouts", async () => {
    const { v, agent } = await f.assignedConversation();
    agent.send({ type: "flag", on: true });
    await agent.next(isEvent("flagged"));
    await timePasses(v.roomId, "inactivity", 30 * 3600 * 1000);
    await runInDurableObject(roomStub(v.roomId), (_r: ChatRoom, s) => s.storage.sql.exec("UPDATE timers SET due_at = ? WHERE kind = 'window'", Date.now() - 1));
    await runDurableObjectAlarm(roomStub(v.roomId));
    expect((await conversationOf(v.roomId)).status).toBe("open");
    const timers = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.timers.list().map((t) => t.kind));
    expect(timers).toEqual(expect.arrayContaining(["inactivity", "window"]));
  });

  it("the pending timeout closes a pending conversation the customer never came back to", async () => {
    const { v, agent } = await f.assignedConversation();
    agent.send({ type: "setStatus", status: "pending" });
    await agent.next((fr) => fr.type === "conversation" && fr.conversation.status === "pending");
    // A day without activity does not close a pending conversation: the pending timeout decides.
    await timePasses(v.roomId, "inactivity", 25 * 3600 * 1000);
    await runDurableObjectAlarm(roomStub(v.roomId));
    expect(await conversationOf(v.roomId)).toMatchObject({ status: "pending" });
    await timePasses(v.roomId, "pending", 24 * 3600 * 1000);
    await runDurableObjectAlarm(roomStub(v.roomId));
    expect(await conversationOf(v.roomId)).toMatchObject({ status: "closed", close_reason: "abandoned" });
  });

  /**
   * Ann opens her desk: online, so the team has someone other than Sam for
   * chats. `close` puts her on a break first: a closed desk alone still counts
   * as available for the grace period.
   */
  async function annAtHerDesk() {
    const desk = await openSocket(`/ws/team/${f.teamId}`, { cookie: f.cookies.ann });
    await desk.next((fr) => fr.type === "snapshot");
    const from = desk.frames.length;
    desk.send({ type: "status", status: "online" }); // back from the break an earlier test left her on
    await desk.next((fr) => fr.type === "presence" && fr.presence.agentId === f.ids.ann && fr.presence.status === "online", from);
    return {
      ...desk,
      async close() {
        const from = desk.frames.length;
        desk.send({ type: "status", status: "break" });
        await desk.next((fr) => fr.type === "presence" && fr.presence.agentId === f.ids.ann && fr.presence.status === "break", from);
        await desk.close();
      },
    };
  }

  /** With Ann at her desk, the response timeout passes: the conversation goes to her, the one other available agent. */
  async function timesOutToAnn(roomId: string, agent: TestSocket, ms: number) {
    const desk = await annAtHerDesk();
    try {
      await timePasses(roomId, "response", ms);
      await runDurableObjectAlarm(roomStub(roomId));
      await agent.next(isEvent("requeued"));
      await agent.next((fr) => isEvent("assigned")(fr) && fr.message.data.agentId === f.ids.ann);
    } finally {
      await desk.close();
    }
  }

  /** Sam answered, the customer wrote again, and nobody answered within the response timeout; Ann took over. */
  async function leftUnanswered() {
    const assigned = await f.assignedConversation(); // Sam's, taken before Ann is online
    const { v, visitor, agent } = assigned;
    agent.send({ type: "send", clientId: cid(), body: "Answer" });
    await visitor.next(isMessage("Answer"));
    visitor.send({ type: "send", clientId: cid(), body: "Question" });
    await agent.next(isMessage("Question"));
    await timesOutToAnn(v.roomId, agent, 3 * 60 * 1000);
    return assigned;
  }

  it("the agent response timeout reassigns an unanswered conversation to another available agent", async () => {
    const { v } = await leftUnanswered();
    const c = await conversationOf(v.roomId);
    expect(c).toMatchObject({ status: "open", assignee_id: f.ids.ann });
  });

  it("with nobody else available, the response timeout leaves the conversation with its agent and looks again", async () => {
    const { v, visitor, agent } = await f.assignedConversation();
    visitor.send({ type: "send", clientId: cid(), body: "Still there?" });
    await agent.next(isMessage("Still there?"));
    const seq = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.store.lastSeq());
    await timePasses(v.roomId, "response", 3 * 60 * 1000);
    await runDurableObjectAlarm(roomStub(v.roomId));
    const after = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => ({
      conv: r.store.current()!,
      seq: r.store.lastSeq(),
      response: r.timers.list().find((t) => t.kind === "response"),
    }));
    // Not handed round the queue back to Sam, and nothing said to the customer.
    expect(after.conv).toMatchObject({ status: "open", assignee_id: f.ids.sam, avoid_agent_id: null });
    expect(after.seq).toBe(seq);
    expect(after.response?.dueAt).toBeGreaterThan(Date.now());
    // Once Ann is at her desk, the next look hands it to her.
    await timesOutToAnn(v.roomId, agent, 3 * 60 * 1000);
  });

  it("every conversation timer run again after it fired changes nothing", async () => {
    const { v } = await leftUnanswered();
    const snapshot = async () =>
      runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => ({ conv: r.store.current(), seq: r.store.lastSeq() }));
    const before = await snapshot();
    const id = before.conv!.id;
    // Alarms are at-least-once: the same timers delivered again, all forced due.
    for (const kind of ["response", "window", "inactivity", "pending", "hubsync", "flush"]) {
      await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.timers.set(kind, kind === "hubsync" ? "hub" : kind === "flush" ? "archive" : id, Date.now() - 1));
      await runDurableObjectAlarm(roomStub(v.roomId));
    }
    const after = await snapshot();
    expect(after.seq).toBe(before.seq);
    expect(after.conv).toMatchObject({ status: "open", assignee_id: f.ids.ann, version: before.conv!.version });
  });

  it("a hub that missed a transfer away cannot hand the conversation to its own agents; the room's refusal clears it from that hub", async () => {
    const { v, agent } = await f.assignedConversation(); // Sam's, in this team
    agent.send({ type: "transfer", teamId: f.otherTeamId, note: "Billing question" });
    await agent.next(isEvent("transferred"));
    // This team's hub never heard (the push to it failed): it still lists the conversation in its queue.
    const hub = env.TEAM_HUB.get(env.TEAM_HUB.idFromName(f.teamId));
    const stale = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => ({ ...r.summaryForHub()!, teamId: f.teamId }));
    await hub.syncConversation(stale);
    const listed = () => runInDurableObject(hub, (_h: TeamHub, state) => state.storage.sql.exec("SELECT status FROM conversations WHERE id = ?", stale.id).toArray());
    expect(await listed()).toEqual([{ status: "queued" }]);
    const desk = await annAtHerDesk(); // someone available: the hub hands its queue out
    try {
      await runInDurableObject(hub, (h: TeamHub) => h.background.idle());
      expect(await conversationOf(v.roomId)).toMatchObject({ team_id: f.otherTeamId, status: "queued", assignee_id: null });
      expect(await listed()).toEqual([]);
    } finally {
      await desk.close();
    }
  });

  it("a customer coming back to a pending conversation they still wait on starts the agent's response time again", async () => {
    const { v, visitor, agent } = await f.assignedConversation(); // Sam's
    visitor.send({ type: "send", clientId: cid(), body: "Any news?" });
    await agent.next(isMessage("Any news?"));
    agent.send({ type: "setStatus", status: "pending" }); // without answering
    await agent.next((fr) => fr.type === "conversation" && fr.conversation.status === "pending");
    await timePasses(v.roomId, "response", 3 * 60 * 1000);
    await runDurableObjectAlarm(roomStub(v.roomId)); // pending: the response timer lets go
    expect(await conversationOf(v.roomId)).toMatchObject({ status: "pending", assignee_id: f.ids.sam });
    visitor.send({ type: "send", clientId: cid(), body: "Hello??" });
    await agent.next((fr) => fr.type === "conversation" && fr.conversation.status === "open");
    // Sam still does not answer: Ann, available, gets it.
    await timesOutToAnn(v.roomId, agent, 3 * 60 * 1000);
    expect(await conversationOf(v.roomId)).toMatchObject({ status: "open", assignee_id: f.ids.ann });
  });

  it("a push the old team's hub missed after a transfer is sent again with the room's next one", async () => {
    const { v, visitor, agent } = await f.assignedConversation(); // Sam's, in this team
    agent.send({ type: "transfer", teamId: f.otherTeamId });
    await agent.next(isEvent("transferred"));
    await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.hubUpToDate()); // the transfer's pushes are done
    // The push to this team's hub failed: it still lists the conversation as Sam's, and the room owes it.
    const hub = env.TEAM_HUB.get(env.TEAM_HUB.idFromName(f.teamId));
    const stale = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => {
      r.store.setMeta("hubDebts", [{ teamId: f.teamId, conversationId: r.store.current()!.id }]);
      return { ...r.summaryForHub()!, teamId: f.teamId, status: "open" as const, assigneeId: f.ids.sam };
    });
    await hub.syncConversation(stale);
    const listed = () => runInDurableObject(hub, (_h: TeamHub, state) => state.storage.sql.exec("SELECT assignee_id FROM conversations WHERE id = ?", stale.id).toArray());
    expect(await listed()).toEqual([{ assignee_id: f.ids.sam }]);
    visitor.send({ type: "send", clientId: cid(), body: "Hello billing?" });
    await visitor.next(isMessage("Hello billing?"));
    await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.hubUpToDate());
    expect(await listed()).toEqual([]);
    expect(await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.store.getMeta("hubDebts"))).toEqual([]);
  });

  it("a flagged conversation is never reassigned by the agent response timeout", async () => {
    const { v, visitor, agent } = await f.assignedConversation();
    agent.send({ type: "flag", on: true });
    await agent.next(isEvent("flagged"));
    visitor.send({ type: "send", clientId: cid(), body: "Hello??" });
    await agent.next(isMessage("Hello??"));
    await timePasses(v.roomId, "response", 10 * 60 * 1000);
    await runDurableObjectAlarm(roomStub(v.roomId));
    expect(await conversationOf(v.roomId)).toMatchObject({ status: "open", assignee_id: f.ids.sam });
    // Unflagged while the customer still waits: the timeout applies again.
    agent.send({ type: "flag", on: false });
    await agent.next(isEvent("unflagged"));
    await timesOutToAnn(v.roomId, agent, 10 * 60 * 1000);
  });

  it("closed conversations stay readable from D1 and searchable, within the caller's teams only", async () => {
    const { v, visitor, agent } = await f.assignedConversation();
    visitor.send({ type: "send", clientId: cid(), body: "Invoice 77A is wrong" });
    await agent.next(isMessage("Invoice 77A is wrong"));
    agent.send({ type: "close", reason: "resolved" });
    await agent.next(isEvent("closed"));
    await runDurableObjectAlarm(roomStub(v.roomId));
    const found = await (await call("/api/v1/search?q=invoice%2077a", { cookie: f.cookies.ann })).json<any>();
    expect(found.total).toBeGreaterThanOrEqual(1);
    const hit = found.items.find((i: any) => i.roomId === v.roomId);
    expect(hit.snippet).toContain("[Invoice]");
    const closed = await (await call(`/api/v1/conversations/${hit.conversationId}`, { cookie: f.cookies.ann })).json<any>();
    expect(closed.conversation).toMatchObject({ status: "closed", closeReason: "resolved" });
    expect(closed.messages.map((m: any) => m.body)).toContain("Invoice 77A is wrong");
    const list = await (await call("/api/v1/conversations?status=closed&perPage=100", { cookie: f.cookies.ann })).json<any>();
    expect(list.items.some((c: any) => c.id === hit.conversationId)).toBe(true);
    // Otto's team does not own it: not found, not in his search.
    expect((await call(`/api/v1/conversations/${hit.conversationId}`, { cookie: f.cookies.otto })).status).toBe(404);
    expect((await (await call("/api/v1/search?q=invoice", { cookie: f.cookies.otto })).json<any>()).total).toBe(0);
    expect((await call("/api/v1/search?q=", { cookie: f.cookies.ann })).status).toBe(400);
  });

  it("in a team where agents see only their own chats, the archive shows an agent only theirs; managers see all", async () => {
    const { v, visitor, agent } = await f.assignedConversation(); // Sam's
    visitor.send({ type: "send", clientId: cid(), body: "Passport number 12345" });
    await agent.next(isMessage("Passport number 12345"));
    agent.send({ type: "close", reason: "resolved" });
    await agent.next(isEvent("closed"));
    await runDurableObjectAlarm(roomStub(v.roomId));
    const id = (await conversationOf(v.roomId)).id;
    await env.DB.prepare("UPDATE teams SET settings = json_set(settings, '$.visibility', 'assigned') WHERE id = ?").bind(f.teamId).run();
    try {
      const as = (cookie: string) => ({
        one: async () => (await call(`/api/v1/conversations/${id}`, { cookie })).status,
        search: async () => (await (await call("/api/v1/search?q=passport", { cookie })).json<any>()).items.some((i: any) => i.conversationId === id),
        listed: async () => (await (await call("/api/v1/conversations?status=closed&perPage=100", { cookie })).json<any>()).items.some((c: any) => c.id === id),
      });
      const ann = as(f.cookies.ann);
      expect([await ann.one(), await ann.search(), await ann.listed()]).toEqual([404, false, false]);
      const sam = as(f.cookies.sam);
      expect([await sam.one(), await sam.search(), await sam.listed()]).toEqual([200, true, true]);
      const mia = as(f.cookies.mia); // manager
      expect([await mia.one(), await mia.search(), await mia.listed()]).toEqual([200, true, true]);
    } finally {
      await env.DB.prepare("UPDATE teams SET settings = json_set(settings, '$.visibility', 'all') WHERE id = ?").bind(f.teamId).run();
    }
    expect((await call(`/api/v1/conversations/${id}`, { cookie: f.cookies.ann })).status).toBe(200);
  });

  it("a new room's first burst is paced by its inbox's budget (here generous), not by the default", async () => {
    const v = await f.newVisitor();
    const visitor = await f.visitorSocket(v.token);
    for (let i = 0; i < 200; i++) visitor.send({ type: "send", clientId: cid(), body: `burst ${i}` });
    await visitor.next(isMessage("burst 199"), 0, 10_000);
    expect(visitor.frames.filter((fr) => fr.type === "error")).toEqual([]);
    expect(visitor.frames.filter((fr) => fr.type === "message" && fr.message.author.type === "visitor")).toHaveLength(200);
  });

  it("a new room's first burst of messages reads its settings from D1 once, not once per message", async () => {
    const v = await f.newVisitor();
    const visitor = await f.visitorSocket(v.token);
    let reads = 0;
    await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => {
      const room = r as unknown as { env: Env };
      const real = room.env.DB;
      const counted = new Proxy(real, {
        get(target, key) {
          const value = Reflect.get(target, key);
          if (key !== "prepare") return typeof value === "function" ? value.bind(target) : value;
          return (sql: string) => {
            if (sql.startsWith("SELECT kind, settings, team_id FROM inboxes")) reads++; // loadRoomSettings
            return target.prepare(sql);
          };
        },
      });
      room.env = { ...room.env, DB: counted };
    });
    await Promise.all(Array.from({ length: 30 }, (_, i) => roomStub(v.roomId).perform({ kind: "visitor", inboxId: f.inboxId, contactKey: v.contactKey }, { roomId: v.roomId, inboxId: f.inboxId, teamId: f.teamId, contactKey: v.contactKey }, { type: "send", clientId: cid(), body: `first ${i}` })));
    await visitor.next(isMessage("first 29"));
    expect(reads).toBe(1);
  });

  it("a room with hundreds of long messages waiting archives every one of them", async () => {
    const { v, visitor } = await f.assignedConversation();
    // 8 KB each: a 200-message batch is 1.6 MB of text, more than one bound value should carry.
    const long = (i: number) => `bulk ${i} ${"long text ".repeat(800)}`;
    for (let i = 0; i < 260; i++) visitor.send({ type: "send", clientId: cid(), body: long(i) });
    await visitor.next(isMessage(long(259)), 0, 15_000);
    for (let i = 0; i < 5; i++) {
      await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.scheduleFlush(true));
      await runDurableObjectAlarm(roomStub(v.roomId));
    }
    const { lastSeq, pending } = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom, s) => ({
      lastSeq: r.store.lastSeq(),
      pending: s.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM messages WHERE flushed <> 1").one().n,
    }));
    expect(pending).toBe(0);
    const archived = await env.DB.prepare("SELECT COUNT(*) AS n FROM messages WHERE room_id = ?").bind(v.roomId).first<{ n: number }>();
    expect(archived!.n).toBe(lastSeq);
    const bodies = await env.DB.prepare("SELECT body FROM messages WHERE room_id = ? AND body LIKE 'bulk %' ORDER BY seq").bind(v.roomId).all<{ body: string }>();
    expect(bodies.results.map((r) => r.body)).toEqual(Array.from({ length: 260 }, (_, i) => long(i)));
  });

  it("a hand-over from the queue is marked in the archive by the hub a moment later, and the rest goes with the conversation's next flush, not one of its own", async () => {
    const { v, agent } = await f.assignedConversation();
    const flush = async () => {
      await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.scheduleFlush(true));
      await runDurableObjectAlarm(roomStub(v.roomId));
    };
    const archived = async () => {
      const id = (await conversationOf(v.roomId)).id;
      const row = await env.DB.prepare("SELECT status, assignee_id FROM conversations WHERE id = ?").bind(id).first<{ status: string; assignee_id: string | null }>();
      const lines = await env.DB.prepare("SELECT body FROM messages WHERE room_id = ? AND kind = 'event' ORDER BY seq").bind(v.roomId).all<{ body: string }>();
      return { ...row, lines: lines.results.map((l) => l.body) };
    };
    const flushTimer = () =>
      runInDurableObject(roomStub(v.roomId), (r: ChatRoom, s) => s.storage.sql.exec("SELECT 1 FROM timers WHERE kind = 'flush'").toArray().length);
    agent.send({ type: "leave" }); // back to the queue: an ordinary change, archived soon
    await agent.next(isEvent("left"));
    expect(await flushTimer()).toBe(1);
    await flush();
    expect(await archived()).toMatchObject({ status: "queued", assignee_id: null });

    const ann = await f.agentSocket(f.cookies.ann, v.roomId);
    ann.send({ type: "join" });
    await ann.next((fr) => isEvent("assigned")(fr) && fr.message.data.agentId === f.ids.ann);
    // Hand-overs come in bursts (a whole queue at once): no flush of their own...
    expect(await flushTimer()).toBe(0);
    expect(await archived()).toMatchObject({ status: "queued", assignee_id: null });
    // ...the hub, which saw it, marks the row a moment later (with the rest of a burst, in one statement)...
    const hub = env.TEAM_HUB.get(env.TEAM_HUB.idFromName(f.teamId));
    await runInDurableObject(hub, (h: TeamHub) => h.clock.advance(HAND_OVER_ARCHIVE_MS + 1000));
    await runDurableObjectAlarm(hub);
    expect(await archived()).toMatchObject({ status: "open", assignee_id: f.ids.ann, lines: ["Sam joined the conversation", "Sam left the conversation"] });
    // ...and the rest goes with the room's next flush: here after Ann's first reply.
    ann.send({ type: "send", clientId: cid(), body: "Hi, Ann here" });
    await ann.next(isMessage("Hi, Ann here"));
    expect(await flushTimer()).toBe(1);
    await flush();
    expect(await archived()).toMatchObject({ status: "open", assignee_id: f.ids.ann, lines: ["Sam joined the conversation", "Sam left the conversation", "Ann joined the conversation"] });
  });

  it("the hub's early mark of a hand-over never overwrites what the room archived after it", async () => {
    const v = await f.newVisitor();
    const visitor = await f.visitorSocket(v.token);
    visitor.send({ type: "send", clientId: cid(), body: "Quick question" });
    await visitor.next(isMessage("Quick question"));
    await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.scheduleFlush(true));
    await runDurableObjectAlarm(roomStub(v.roomId)); // archived as queued
    const sam = await f.agentSocket(f.cookies.sam, v.roomId);
    sam.send({ type: "join" });
    await sam.next(isEvent("assigned"));
    sam.send({ type: "close", reason: "resolved" }); // a close flushes at once
    await sam.next((fr) => fr.type === "conversation" && fr.conversation.status === "closed");
    await runDurableObjectAlarm(roomStub(v.roomId));
    const id = (await conversationOf(v.roomId)).id;
    const row = () => env.DB.prepare("SELECT status FROM conversations WHERE id = ?").bind(id).first<{ status: string }>();
    expect(await row()).toEqual({ status: "closed" });
    const hub = env.TEAM_HUB.get(env.TEAM_HUB.idFromName(f.teamId));
    await runInDurableObject(hub, (h: TeamHub) => h.clock.advance(HAND_OVER_ARCHIVE_MS + 1000));
    await runDurableObjectAlarm(hub);
    expect(await row()).toEqual({ status: "closed" });
  });

  it("messages a flush was writing when the room was evicted reach D1 with the next flush", async () => {
    const { v, visitor, agent } = await f.assignedConversation();
    visitor.send({ type: "send", clientId: cid(), body: "Cut off mid-flush" });
    await agent.next(isMessage("Cut off mid-flush"));
    // As an eviction during the D1 write leaves them: taken for a flush, never marked written.
    await runInDurableObject(roomStub(v.roomId), (r: ChatRoom, s) => s.storage.sql.exec("UPDATE messages SET flushed = 2"));
    await evictDurableObject(roomStub(v.roomId));
    visitor.send({ type: "send", clientId: cid(), body: "Anyone?" });
    await agent.next(isMessage("Anyone?"));
    await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.scheduleFlush(true));
    await runDurableObjectAlarm(roomStub(v.roomId));
    const bodies = await env.DB.prepare("SELECT body FROM messages WHERE room_id = ? AND kind = 'text' ORDER BY seq").bind(v.roomId).all<{ body: string }>();
    expect(bodies.results.map((r) => r.body)).toEqual(["Hello, I need help", "Cut off mid-flush", "Anyone?"]);
    const left = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom, s) => s.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM messages WHERE flushed <> 1").one().n);
    expect(left).toBe(0);
  });

  it("the archive reaches D1 in a batch: conversation, messages and full-text search", async () => {
    const { v, visitor, agent } = await f.assignedConversation();
    visitor.send({ type: "send", clientId: cid(), body: "My parcel never arrived in Zürich" });
    await agent.next(isMessage("My parcel never arrived in Zürich"));
    agent.send({ type: "close", reason: "resolved" });
    await agent.next(isEvent("closed"));
    // Close flushes at once (an alarm due now); run it and check D1.
    await runDurableObjectAlarm(roomStub(v.roomId));
    const conv = await env.DB.prepare("SELECT * FROM conversations WHERE room_id = ?").bind(v.roomId).first<any>();
    expect(conv).toMatchObject({ status: "closed", close_reason: "resolved", team_id: f.teamId, assignee_id: f.ids.sam });
    // The first flush created the contact behind the room, in the same batch.
    const identity = await env.DB.prepare("SELECT i.contact_id, c.id FROM contact_identities i JOIN contacts c ON c.id = i.contact_id WHERE i.external_id = ?")
      .bind(conv.contact_key).first<{ contact_id: string }>();
    expect(identity?.contact_id).toBeTruthy();
    expect(conv.contact_id).toBe(identity!.contact_id);
    const hits = await env.DB.prepare("SELECT m.body FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid WHERE messages_fts MATCH ?").bind("zurich").all<{ body: string }>();
    expect(hits.results.map((r) => r.body)).toContain("My parcel never arrived in Zürich");
    // Every column arrives as the room has it (text, events with data, internal lines, nulls).
    const inRoom = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.store.messagesAfter(0, 1000, true));
    const archived = await env.DB.prepare("SELECT * FROM messages WHERE room_id = ? ORDER BY seq").bind(v.roomId).all<any>();
    expect(archived.results.map((m) => ({
      seq: m.seq, conversationId: m.conversation_id, kind: m.kind, author: { type: m.author_type, id: m.author_id, name: m.author_name },
      clientId: m.client_id, body: m.body, data: m.data === null ? null : JSON.parse(m.data), internal: m.internal === 1,
      providerId: m.provider_id, deliveryStatus: m.delivery_status, createdAt: m.created_at,
    }))).toEqual(inRoom);
    expect(inRoom.some((m) => m.internal) && inRoom.some((m) => m.data !== null)).toBe(true);
    // A second flush writes nothing twice.
    await runInDurableObject(roomStub(v.roomId), (r: ChatRoom, s) => s.storage.sql.exec("UPDATE messages SET flushed = 0"));
    await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.scheduleFlush(true));
    await runDurableObjectAlarm(roomStub(v.roomId));
    const count = await env.DB.prepare("SELECT COUNT(*) AS n, COUNT(DISTINCT seq) AS d FROM messages WHERE room_id = ?").bind(v.roomId).first<{ n: number; d: number }>();
    expect(count!.n).toBe(count!.d);
  });
});
