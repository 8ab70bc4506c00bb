import { evictDurableObject, runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import type { ChatRoom } from "../rooms/chat-room";
import { utf8Length } from "../protocol";
import { call, login, seedAgent } from "./helpers";
import { cid, type RoomFixture, roomStub, setupRoomFixture } from "./room-fixture";
import { isEvent, isMessage, openSocket } from "./ws";

let f: RoomFixture;

beforeAll(async () => {
  f = await setupRoomFixture({}, { autoGreeting: "Thanks! Someone will be with you shortly." });
});

afterEach(async () => {
  await f.closeAll();
});

const newVisitor = () => f.newVisitor();
const visitorSocket = (token: string, after?: number) => f.visitorSocket(token, after);
const agentSocket = (cookie: string, roomId: string, after?: number) => f.agentSocket(cookie, roomId, after);
const assignedConversation = () => f.assignedConversation();
/** The fixture team's visibility, in D1; a room reads it when its next conversation starts. */
const setVisibility = (visibility: "all" | "assigned") =>
  env.DB.prepare("UPDATE teams SET settings = json_set(settings, '$.visibility', ?) WHERE id = ?").bind(visibility, f.teamId).run();
/** Resolves once the server has closed the socket. */
const closed = (ws: WebSocket) =>
  ws.readyState === WebSocket.CLOSED ? Promise.resolve() : new Promise<void>((resolve) => ws.addEventListener("close", () => resolve(), { once: true }));
/**
 * A minute passes for the room's agent sockets: their identities, as their
 * attachments remember them, were last read long ago, and the room (evicted)
 * rebuilds its sockets from those attachments.
 */
async function identitiesGoStale(roomId: string) {
  await runInDurableObject(roomStub(roomId), (_r: ChatRoom, state) => {
    for (const ws of state.getWebSockets("agent")) {
      const attached = ws.deserializeAttachment() as { edgedesk: { checkedAt?: number } };
      ws.serializeAttachment({ ...attached, edgedesk: { ...attached.edgedesk, checkedAt: 0 } });
    }
  });
  await evictDurableObject(roomStub(roomId));
}
const summaryOf = (roomId: string) => runInDurableObject(roomStub(roomId), (r: ChatRoom) => r.summaryForHub()!);

describe("messages", () => {
  it("a visitor's first message starts a queued conversation with technical details and the auto-greeting", async () => {
    const v = await newVisitor();
    const visitor = await visitorSocket(v.token);
    visitor.send({ type: "send", clientId: cid(), body: "Hi there" });
    const mine = await visitor.next(isMessage("Hi there"));
    expect(mine.message).toMatchObject({ seq: 1, kind: "text", author: { type: "visitor" }, internal: false });
    const greeting = await visitor.next((f) => f.type === "message" && f.message.author.type === "bot");
    expect(greeting.message.body).toBe("Thanks! Someone will be with you shortly.");
    const agent = await agentSocket(f.cookies.mia, v.roomId);
    const welcome = agent.frames.find((f) => f.type === "welcome");
    expect(welcome.conversation.status).toBe("queued");
    expect(welcome.conversation.details).toMatchObject({ browser: "Chrome 140", os: "Windows", language: "de-DE", pageUrl: "https://shop.test/pricing" });
    expect(agent.all("message").map((f) => f.message.body)).toEqual(["Hi there", "Thanks! Someone will be with you shortly."]);
  });

  it("two messages sent back to back by a new visitor start one conversation, not two", async () => {
    const v = await newVisitor();
    const visitor = await visitorSocket(v.token);
    visitor.send({ type: "send", clientId: cid(), body: "first" });
    visitor.send({ type: "send", clientId: cid(), body: "second" });
    await visitor.next(isMessage("second"));
    const conversations = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.store.allConversations().length);
    expect(conversations).toBe(1);
  });

  it("a retried send is stored once and answered with the stored message", async () => {
    const { v, visitor } = await assignedConversation();
    const clientId = cid();
    visitor.send({ type: "send", clientId, body: "only once" });
    const first = await visitor.next(isMessage("only once"));
    const from = visitor.frames.length;
    visitor.send({ type: "send", clientId, body: "only once" });
    const again = await visitor.next(isMessage("only once"), from);
    expect(again.message.seq).toBe(first.message.seq);
    const count = await runInDurableObject(roomStub(v.roomId), (_r: ChatRoom, state) =>
      state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM messages WHERE client_id = ?", clientId).one().n,
    );
    expect(count).toBe(1);
  });

  it("a retry that arrives after the conversation closed gets the stored message back, not an error or a new conversation", async () => {
    const { v, visitor, agent } = await assignedConversation();
    const fromVisitor = cid();
    const fromAgent = cid();
    visitor.send({ type: "send", clientId: fromVisitor, body: "customer, once" });
    await agent.next(isMessage("customer, once"));
    agent.send({ type: "send", clientId: fromAgent, body: "agent, once" });
    await visitor.next(isMessage("agent, once"));
    agent.send({ type: "close", reason: "resolved" });
    await agent.next((fr) => fr.type === "conversation" && fr.conversation.status === "closed");

    const [vFrom, aFrom] = [visitor.frames.length, agent.frames.length];
    visitor.send({ type: "send", clientId: fromVisitor, body: "customer, once" });
    agent.send({ type: "send", clientId: fromAgent, body: "agent, once" });
    expect((await visitor.next(isMessage("customer, once"), vFrom)).message.clientId).toBe(fromVisitor);
    expect((await agent.next(isMessage("agent, once"), aFrom)).message.clientId).toBe(fromAgent);
    expect(agent.frames.slice(aFrom).some((fr) => fr.type === "error")).toBe(false);
    const after = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom, state) => ({
      conversations: r.store.allConversations().map((c) => c.status),
      copies: state.storage.sql.exec<{ n: number }>("SELECT COUNT(*) AS n FROM messages WHERE client_id IN (?, ?)", fromVisitor, fromAgent).one().n,
    }));
    expect(after).toEqual({ conversations: ["closed"], copies: 2 });
  });

  it("agents and the visitor see each other's messages; notes reach agents only", async () => {
    const { v, visitor, agent } = await assignedConversation();
    agent.send({ type: "send", clientId: cid(), kind: "note", body: "internal: VIP customer" });
    agent.send({ type: "send", clientId: cid(), body: "Hi! How can I help?" });
    await visitor.next(isMessage("Hi! How can I help?"));
    await agent.next(isMessage("internal: VIP customer"));
    expect(visitor.frames.some((f) => JSON.stringify(f).includes("VIP customer"))).toBe(false);
    // Replays follow the same rule: agents get the note, a reconnecting visitor does not.
    const late = await agentSocket(f.cookies.mia, v.roomId);
    expect(late.all("message").some((f) => f.message.body === "internal: VIP customer")).toBe(true);
    const visitorAgain = await visitorSocket(v.token);
    expect(visitorAgain.all("message").some((f) => f.message.body === "Hi! How can I help?")).toBe(true);
    expect(visitorAgain.all("message").some((f) => f.message.kind === "note")).toBe(false);
  });

  it("a visitor cannot write notes or run agent commands; the socket stays open", async () => {
    const { visitor } = await assignedConversation();
    visitor.send({ type: "send", clientId: cid(), kind: "note", body: "sneaky" });
    expect((await visitor.next((f) => f.type === "error")).code).toBe("forbidden");
    const from = visitor.frames.length;
    visitor.send({ type: "close", reason: "resolved" });
    expect((await visitor.next((f) => f.type === "error", from)).code).toBe("forbidden");
    visitor.send({ type: "send", clientId: cid(), body: "still here" });
    await visitor.next(isMessage("still here"));
  });

  it("in a team where agents see only their own chats, someone taking the chat disconnects the other agents' sockets before anything else is said", async () => {
    await setVisibility("assigned");
    try {
      const v = await newVisitor();
      const visitor = await visitorSocket(v.token);
      visitor.send({ type: "send", clientId: cid(), body: "Anyone?" });
      await visitor.next(isMessage("Anyone?"));
      const ann = await agentSocket(f.cookies.ann, v.roomId); // queued: every team agent may look
      const sam = await agentSocket(f.cookies.sam, v.roomId);
      sam.send({ type: "join" });
      await sam.next(isEvent("assigned"));
      expect(await ann.next((fr) => fr.type === "error" && fr.code === "forbidden")).toMatchObject({ message: "You can no longer see this conversation." });
      await closed(ann.ws);
      sam.send({ type: "send", clientId: cid(), kind: "note", body: "Between us: refund approved" });
      visitor.send({ type: "send", clientId: cid(), body: "My order number is 42" });
      await sam.next(isMessage("My order number is 42"));
      expect(JSON.stringify(ann.frames)).not.toContain("refund approved");
      expect(JSON.stringify(ann.frames)).not.toContain("order number");
      // Reconnecting is refused; the manager still sees it.
      expect(String(await openSocket(`/ws/room/${encodeURIComponent(v.roomId)}`, { cookie: f.cookies.ann }).catch((e: Error) => e))).toContain("403");
      const mia = await agentSocket(f.cookies.mia, v.roomId);
      expect(mia.frames.find((fr) => fr.type === "welcome").conversation.assignee.id).toBe(f.ids.sam);
    } finally {
      await setVisibility("all");
    }
  });

  it("a socket opened before a demotion or a disabled account does not keep the old rights past the identity check", async () => {
    const { v, visitor } = await assignedConversation(); // Sam's
    const mia = await agentSocket(f.cookies.mia, v.roomId); // a manager, for now
    const ann = await agentSocket(f.cookies.ann, v.roomId);
    await env.DB.prepare("UPDATE team_members SET role = 'agent' WHERE agent_id = ? AND team_id = ?").bind(f.ids.mia, f.teamId).run();
    await env.DB.prepare("UPDATE agents SET active = 0 WHERE id = ?").bind(f.ids.ann).run();
    try {
      await identitiesGoStale(v.roomId);
      const from = mia.frames.length;
      mia.send({ type: "close", reason: "resolved" });
      expect(await mia.next((fr) => fr.type === "error", from)).toMatchObject({ code: "forbidden" });
      expect((await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.store.current()!)).status).toBe("open");
      ann.send({ type: "send", clientId: cid(), kind: "note", body: "still here?" });
      expect(await ann.next((fr) => fr.type === "error" && fr.message === "Your account is no longer active.")).toBeTruthy();
      await closed(ann.ws);
      // Her note was never stored: a stale identity's messages wait for the check like everything else.
      const bodies = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.store.messagesAfter(0, 1000, true).map((m) => m.body));
      expect(bodies).not.toContain("still here?");
      visitor.send({ type: "send", clientId: cid(), body: "after the change" });
      await visitor.next(isMessage("after the change"));
      expect(JSON.stringify(ann.frames)).not.toContain("after the change");
    } finally {
      await env.DB.prepare("UPDATE team_members SET role = 'manager' WHERE agent_id = ? AND team_id = ?").bind(f.ids.mia, f.teamId).run();
      await env.DB.prepare("UPDATE agents SET active = 1 WHERE id = ?").bind(f.ids.ann).run();
    }
  });

  it("a disabled agent whose socket only listens gets nothing more once the identity check is due; the others get everything in order", async () => {
    const { v, visitor, agent: sam } = await assignedConversation(); // Sam's
    const ann = await agentSocket(f.cookies.ann, v.roomId);
    await env.DB.prepare("UPDATE agents SET active = 0 WHERE id = ?").bind(f.ids.ann).run();
    try {
      await identitiesGoStale(v.roomId);
      visitor.send({ type: "send", clientId: cid(), body: "my card ends in 4242" });
      visitor.send({ type: "send", clientId: cid(), body: "and expires 12/29" });
      expect(await ann.next((fr) => fr.type === "error" && fr.message === "Your account is no longer active.")).toBeTruthy();
      await closed(ann.ws);
      expect(JSON.stringify(ann.frames)).not.toContain("4242");
      // Sam's identity was just as old: his frames waited for his check and came in order.
      await sam.next(isMessage("and expires 12/29"));
      const order = sam.frames.filter((fr) => fr.type === "message" && fr.message.author.type === "visitor").map((fr) => fr.message.body);
      expect(order.slice(-2)).toEqual(["my card ends in 4242", "and expires 12/29"]);
    } finally {
      await env.DB.prepare("UPDATE agents SET active = 1 WHERE id = ?").bind(f.ids.ann).run();
    }
  });

  it("a socket whose session was signed out is let go at its identity check; one from a session still signed in is not", async () => {
    const { v, visitor } = await assignedConversation(); // Sam's
    const elsewhere = await login("ann@room.test", undefined, "10.7.7.7");
    const gone = await agentSocket(elsewhere, v.roomId);
    const kept = await agentSocket(f.cookies.ann, v.roomId);
    expect((await call("/api/v1/auth/logout", { method: "POST", cookie: elsewhere })).status).toBe(200);
    await identitiesGoStale(v.roomId);
    gone.send({ type: "send", clientId: cid(), kind: "note", body: "from a signed-out browser" });
    visitor.send({ type: "send", clientId: cid(), body: "my order number is 5521" });
    expect(await gone.next((fr) => fr.type === "error" && fr.message === "You were signed out: sign in again.")).toBeTruthy();
    await closed(gone.ws);
    await kept.next(isMessage("my order number is 5521"));
    expect(JSON.stringify(gone.frames)).not.toContain("5521");
    const bodies = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.store.messagesAfter(0, 1000, true).map((m) => m.body));
    expect(bodies).not.toContain("from a signed-out browser");
  });

  it("invalid frames get an error frame and the socket stays usable", async () => {
    const { visitor } = await assignedConversation();
    for (const bad of ["not json", JSON.stringify({ type: "dance" }), JSON.stringify({ type: "send", clientId: "x", body: 1 }), JSON.stringify({ type: "send", clientId: cid(), body: "x".repeat(17 * 1024) })]) {
      const from = visitor.frames.length;
      visitor.send(bad);
      const err = await visitor.next((f) => f.type === "error", from);
      expect(["bad_json", "invalid_frame"]).toContain(err.code);
    }
    visitor.send({ type: "send", clientId: cid(), body: "after the errors" });
    await visitor.next(isMessage("after the errors"));
  });
});

describe("how fast a web visitor may write (inbox setting, 120 a minute by default)", () => {
  it("a burst beyond a quarter of the minute's budget is refused with a clear wait, over the socket and over HTTP; nothing refused is stored, a retry of a stored message is still answered, agents are not paced", async () => {
    const { v, visitor, agent } = await assignedConversation();
    const before = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.store.lastSeq());
    const ids = Array.from({ length: 40 }, () => cid());
    ids.forEach((clientId, i) => visitor.send({ type: "send", clientId, body: `line ${i}` }));
    const refused = await visitor.next((fr) => fr.type === "error" && fr.code === "rate_limited");
    expect(refused.message).toMatch(/too fast\. Wait \d+ s/);
    expect(ids).toContain(refused.clientId);
    const http = await call(`/api/v1/rooms/${encodeURIComponent(v.roomId)}/messages`, { method: "POST", headers: { authorization: `Bearer ${v.token}` }, json: { clientId: cid(), body: "and over HTTP" } });
    expect(http.status).toBe(429);
    expect((await http.json<any>()).error.code).toBe("rate_limited");
    await agent.next(isMessage("line 0"));
    const stored = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.store.messagesAfter(before, 1000, true).filter((m) => m.author.type === "visitor").map((m) => m.body));
    // The bucket holds 30 and the message that opened the conversation took one: 29 of these went
    // through (one or two more if the bucket refilled meanwhile, at 2 a second), in order, the rest not at all.
    expect(stored).toEqual(Array.from({ length: stored.length }, (_, i) => `line ${i}`));
    expect(stored.length).toBeGreaterThanOrEqual(29);
    expect(stored.length).toBeLessThan(32);
    expect(ids.indexOf(refused.clientId)).toBe(stored.length);
    // Resending a stored message (a client unsure it got through) gets it back, not a refusal.
    const from = visitor.frames.length;
    visitor.send({ type: "send", clientId: ids[0], body: "line 0" });
    expect((await visitor.next((fr) => fr.type === "message" || fr.type === "error", from)).message).toMatchObject({ body: "line 0" });
    for (let i = 0; i < 40; i++) agent.send({ type: "send", clientId: cid(), kind: "note", body: `note ${i}` });
    await agent.next(isMessage("note 39"));
    expect(agent.frames.some((fr) => fr.type === "error")).toBe(false);
  });
});

describe("the 16 KB text limit (SPEC §3), counted in UTF-8 bytes", () => {
  it("utf8Length agrees with the encoder, emoji and lone surrogates included", () => {
    for (const text of ["", "plain", "é", "Grüße aus Köln", "日本語", "😀", "a😀b", "👩‍👩‍👧", "\ud83d", "x\ude00y", "\ud83d\ud83d\ude00"]) {
      expect(utf8Length(text), JSON.stringify(text)).toBe(new TextEncoder().encode(text).length);
    }
  });

  it("text up to 16,384 bytes is stored whole; a byte more is refused over the socket and over HTTP, and nothing is stored", async () => {
    const { v, visitor, agent } = await assignedConversation();
    const accentsAtLimit = "é".repeat(8192); // 8,192 characters, 16,384 bytes
    const emojiAtLimit = "😀".repeat(4096); // 8,192 UTF-16 units, 16,384 bytes
    visitor.send({ type: "send", clientId: cid(), body: accentsAtLimit });
    expect((await agent.next(isMessage(accentsAtLimit))).message.body).toHaveLength(8192);
    agent.send({ type: "send", clientId: cid(), body: emojiAtLimit });
    await visitor.next(isMessage(emojiAtLimit));
    const lastSeq = Math.max(...agent.all("message").map((m) => m.message.seq));

    // Under the limit in characters, over it in bytes.
    for (const body of ["é".repeat(8193), "😀".repeat(4097), `${"x".repeat(16_383)}é`]) {
      const from = visitor.frames.length;
      const clientId = cid();
      visitor.send({ type: "send", clientId, body });
      const err = await visitor.next((f) => f.type === "error", from);
      expect(err).toMatchObject({ code: "invalid_frame", clientId, message: expect.stringContaining("16 KB") });
    }
    const overHttp = await call(`/api/v1/rooms/${encodeURIComponent(v.roomId)}/messages`, { method: "POST", cookie: f.cookies.sam, json: { clientId: cid(), body: "é".repeat(8193) } });
    expect(overHttp.status).toBe(400);
    expect((await overHttp.json<any>()).error.message).toContain("16 KB");

    visitor.send({ type: "send", clientId: cid(), body: "after the refusals" });
    const next = await agent.next(isMessage("after the refusals"));
    expect(next.message.seq).toBe(lastSeq + 1); // nothing refused was stored
  });
});

describe("the customer's place in the queue", () => {
  it("a visitor whose conversation queues is told its place unasked, can ask again over the socket and over HTTP", async () => {
    const v = await newVisitor();
    const visitor = await visitorSocket(v.token);
    visitor.send({ type: "send", clientId: cid(), body: "Where am I in line?" });
    const pushed = await visitor.next((fr) => fr.type === "queue");
    expect(pushed).toMatchObject({ position: expect.any(Number), agentsAvailable: false, estimatedWaitSeconds: null });
    const from = visitor.frames.length;
    visitor.send({ type: "queue" });
    expect(await visitor.next((fr) => fr.type === "queue", from)).toMatchObject({ position: pushed.position });
    const overHttp = await call(`/api/v1/rooms/${encodeURIComponent(v.roomId)}/queue`, { headers: { authorization: `Bearer ${v.token}` } });
    expect(overHttp.status).toBe(200);
    expect(await overHttp.json()).toMatchObject({ position: pushed.position, agentsAvailable: false });
    // Taken: no longer in the queue.
    const sam = await agentSocket(f.cookies.sam, v.roomId);
    sam.send({ type: "join" });
    await sam.next(isEvent("assigned"));
    const after = visitor.frames.length;
    visitor.send({ type: "queue" });
    expect(await visitor.next((fr) => fr.type === "queue", after)).toMatchObject({ position: null, estimatedWaitSeconds: null });
  });
});

describe("lossless resume", () => {
  it("a client that missed more than a resume carries gets the newest 5,000 and pages back through the rest with history, without a gap", async () => {
    const { v, agent } = await assignedConversation();
    const after = Math.max(...agent.all("message").map((m) => m.message.seq));
    await agent.close();
    const conversationId = (await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.store.current()!.id));
    await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) =>
      r.store.transaction(() => {
        for (let i = 0; i < 5200; i++) r.store.insertMessage({ conversationId, kind: "text", author: { type: "visitor", id: "v", name: null }, body: `missed ${i}`, internal: false }, Date.now());
      }),
    );
    const back = await agentSocket(f.cookies.sam, v.roomId, after);
    const welcome = back.frames.find((fr) => fr.type === "welcome");
    const replayed: number[] = back.all("replay").flatMap((fr) => fr.messages.map((m: any) => m.seq));
    expect(welcome.hasMore).toBe(true);
    expect(replayed).toHaveLength(5000);
    expect(replayed.at(-1)).toBe(welcome.lastSeq);
    expect(welcome.replayFrom).toBe(replayed[0]);
    // Page back from replayFrom until reaching what the client had: every missed seq, once.
    const seen = new Set(replayed);
    let before = welcome.replayFrom;
    while (before > after + 1) {
      const from = back.frames.length;
      back.send({ type: "history", before, limit: 200 });
      const page = await back.next((fr) => fr.type === "history", from);
      for (const m of page.messages) seen.add(m.seq);
      before = page.messages[0].seq;
    }
    for (let seq = after + 1; seq <= welcome.lastSeq; seq++) expect(seen.has(seq), `seq ${seq}`).toBe(true);
  });

  it("a client that reconnects with its last sequence gets exactly what it missed, once", async () => {
    const { v, visitor, agent } = await assignedConversation();
    const seen = agent.all("message").map((f) => f.message.seq);
    const lastSeen = Math.max(...seen);
    await agent.close();
    for (let i = 0; i < 25; i++) visitor.send({ type: "send", clientId: cid(), body: `missed ${i}` });
    await visitor.next(isMessage("missed 24"));
    const back = await agentSocket(f.cookies.sam, v.roomId, lastSeen);
    const replayed = back.all("message").map((f) => f.message.body);
    expect(replayed).toEqual(Array.from({ length: 25 }, (_, i) => `missed ${i}`));
    const seqs = back.all("message").map((f) => f.message.seq);
    expect(new Set(seqs).size).toBe(seqs.length);
    expect(seqs[0]).toBe(lastSeen + 1);
    // The replay comes as chunk frames between welcome and live, not one frame per message.
    const order = back.frames.filter((fr) => !fr.replayed).map((fr) => fr.type);
    expect(order.slice(0, 3)).toEqual(["welcome", "replay", "live"]);
    expect(back.all("replay")[0].messages).toHaveLength(25);
    // Live again after the replay.
    visitor.send({ type: "send", clientId: cid(), body: "live after resume" });
    await back.next(isMessage("live after resume"));
  });

  it("a busy room updates the team hub once a tick, not once a message, and stops ticking after a quiet interval", async () => {
    const { v, visitor, agent } = await assignedConversation();
    const stub = roomStub(v.roomId);
    const { id } = await runInDurableObject(stub, (r: ChatRoom) => r.store.current()!);
    // Every summary the hub takes in reaches a desk as a list update: count those. An admin
    // watches (not a member, so opening the desk does not make anyone available for chats).
    await seedAgent({ email: "watcher@room.test", role: "admin" });
    const desk = await openSocket(`/ws/team/${f.teamId}`, { cookie: await login("watcher@room.test") });
    await desk.next((fr) => fr.type === "snapshot");
    const updates = () => desk.frames.filter((fr) => fr.type === "conversation" && fr.conversation.id === id);
    const ticks = () => runInDurableObject(stub, (r: ChatRoom) => r.timers.list().filter((t) => t.kind === "hubsync").length);
    const tickNow = async () => {
      await runInDurableObject(stub, (r: ChatRoom) => r.timers.set("hubsync", "hub", Date.now() - 1));
      await runDurableObjectAlarm(stub);
    };

    for (const body of ["one", "two", "three", "four", "five"]) {
      visitor.send({ type: "send", clientId: cid(), body });
      await agent.next(isMessage(body));
    }
    expect(await ticks()).toBe(1);
    await tickNow();
    await desk.next((fr) => fr.type === "conversation" && fr.conversation.preview === "five");
    // Five messages, then the tick: at most the first message after a quiet spell went at once
    // (and one more tick, if the machine was slow), then the tick's.
    expect(updates().length).toBeLessThanOrEqual(3);
    expect(await ticks()).toBe(1); // still busy a moment ago: keeps ticking

    const quiet = updates().length;
    await tickNow();
    expect(await ticks()).toBe(0); // nothing new for a whole interval: stops
    // The next update the desk sees is the next change, not a push from the idle tick.
    agent.send({ type: "tags", tags: ["after-quiet"] });
    await desk.next((fr) => fr.type === "conversation" && fr.conversation.tags.includes("after-quiet"));
    expect(updates().length).toBe(quiet + 1);
    await desk.close();
  });

  it("eviction keeps messages, hibernated sockets and timers", async () => {
    const { v, visitor, agent } = await assignedConversation();
    const stub = roomStub(v.roomId);
    const timersBefore = await runInDurableObject(stub, (r: ChatRoom) => r.timers.list().map((t) => t.kind).sort());
    await evictDurableObject(stub);
    visitor.send({ type: "send", clientId: cid(), body: "after eviction" });
    await agent.next(isMessage("after eviction"));
    const after = await runInDurableObject(stub, (r: ChatRoom) => ({ timers: r.timers.list().map((t) => t.kind), count: r.store.lastSeq() }));
    expect(after.timers).toEqual(expect.arrayContaining(timersBefore.filter((k) => k !== "flush" && k !== "hubsync")));
    expect(after.count).toBeGreaterThanOrEqual(4);
  });

  it("a room woken after eviction reports the same conversation, participants, read pointers and preview", async () => {
    const { v, visitor, agent } = await assignedConversation();
    const ann = await agentSocket(f.cookies.ann, v.roomId);
    ann.send({ type: "join" });
    await ann.next((fr) => isEvent("joined")(fr) && fr.message.data.agentId === f.ids.ann);
    agent.send({ type: "send", clientId: cid(), body: "Let me check that for you" });
    const reply = await visitor.next(isMessage("Let me check that for you"));
    // Newer than the preview line: an internal note and a tag change (an event line).
    agent.send({ type: "send", clientId: cid(), kind: "note", body: "customer on the Pro plan" });
    await ann.next(isMessage("customer on the Pro plan"));
    agent.send({ type: "tags", tags: ["billing"] });
    await ann.next(isEvent("tagged"));
    ann.send({ type: "read", seq: reply.message.seq });
    await vi.waitFor(async () => expect((await summaryOf(v.roomId)).agentReads[f.ids.ann]).toBe(reply.message.seq));

    const before = await summaryOf(v.roomId);
    expect(before).toMatchObject({ participantIds: [f.ids.sam, f.ids.ann], preview: "Let me check that for you", tags: ["billing"] });
    await evictDurableObject(roomStub(v.roomId));
    const after = await summaryOf(v.roomId);
    expect({ ...after, version: 0, visitorOnline: false }).toEqual({ ...before, version: 0, visitorOnline: false });
    expect(after.version).toBeGreaterThan(before.version);
  });

  it("a woken room moves its alarm only for a timer earlier than every stored one", async () => {
    const { v } = await assignedConversation();
    const stub = roomStub(v.roomId);
    const soon = Date.now() + 60_000;
    await runInDurableObject(stub, async (r: ChatRoom) => {
      r.timers.set("test", "first", soon);
      await r.timers.rearm(); // the alarm exactly at the earliest timer
    });
    await evictDurableObject(stub);
    const alarmAfter = (due: number) =>
      runInDurableObject(stub, async (r: ChatRoom, state) => {
        r.timers.set("test", `at-${due}`, due);
        return state.storage.getAlarm();
      });
    const earliest = await runInDurableObject(stub, (r: ChatRoom) => Math.min(...r.timers.list().map((t) => t.dueAt)));
    expect(await alarmAfter(soon + 60_000)).toBe(earliest); // later than what is stored: the alarm stays
    await evictDurableObject(stub);
    expect(await alarmAfter(earliest - 1_000)).toBe(earliest - 1_000); // earlier than everything: it moves
  });
});

describe("a room's earlier conversations (SPEC §1: what an agent may see, conversation by conversation)", () => {
  /** Sam's conversation with a note, a customer line and a file, closed; then the customer writes again (a new, unassigned one). */
  async function earlierConversationOfSam() {
    const { v, visitor, agent: sam } = await assignedConversation();
    const first = (await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.store.current()!)).id;
    const content = new TextEncoder().encode("refund form, 42 EUR\n");
    const uploaded = await call(`/api/v1/rooms/${encodeURIComponent(v.roomId)}/attachments?name=refund.txt`, {
      method: "POST",
      cookie: f.cookies.sam,
      headers: { "content-type": "text/plain", "content-length": String(content.byteLength) },
      body: content,
    });
    expect(uploaded.status).toBe(201);
    const file = await uploaded.json<{ key: string; name: string; type: string; size: number; receipt: string }>();
    sam.send({ type: "send", clientId: cid(), kind: "note", body: "SAM-NOTE refund approved" });
    sam.send({ type: "send", clientId: cid(), body: "Here is the form", attachments: [{ key: file.key, name: file.name, type: file.type, size: file.size, receipt: file.receipt }] });
    visitor.send({ type: "send", clientId: cid(), body: "CARD-4242" });
    await sam.next(isMessage("CARD-4242"));
    sam.send({ type: "close", reason: "resolved" });
    await sam.next((fr) => fr.type === "conversation" && fr.conversation.status === "closed");
    visitor.send({ type: "send", clientId: cid(), body: "one more question" });
    await visitor.next(isMessage("one more question"));
    return { v, first, file };
  }
  const urlFor = (roomId: string, key: string, cookie: string) => call(`/api/v1/rooms/${encodeURIComponent(roomId)}/attachments/url`, { method: "POST", cookie, json: { key } });

  it("where agents see only their own chats, another agent gets the new conversation and none of the earlier one: not on the socket, in history, over HTTP, as a file or a merge", async () => {
    await setVisibility("assigned");
    try {
      const { v, first, file } = await earlierConversationOfSam();
      const ann = await agentSocket(f.cookies.ann, v.roomId);
      await ann.next((fr) => fr.type === "live");
      expect(ann.frames.find((fr) => fr.type === "welcome").hasMore).toBe(false);
      const history = ann.frames.length;
      ann.send({ type: "history", before: 1_000_000, limit: 100 });
      await ann.next((fr) => fr.type === "history", history);
      const http = await (await call(`/api/v1/rooms/${encodeURIComponent(v.roomId)}`, { cookie: f.cookies.ann })).text();
      for (const seen of [JSON.stringify(ann.frames), http]) {
        expect(seen).toContain("one more question");
        for (const hidden of ["SAM-NOTE", "CARD-4242", "Here is the form", first]) expect(seen).not.toContain(hidden);
      }
      expect((await urlFor(v.roomId, file.key, f.cookies.ann)).status).toBe(403);
      // Sam, whose conversation it was, and a manager read both.
      for (const cookie of [f.cookies.sam, f.cookies.mia]) {
        expect(await (await call(`/api/v1/rooms/${encodeURIComponent(v.roomId)}`, { cookie })).text()).toContain("SAM-NOTE");
        expect((await urlFor(v.roomId, file.key, cookie)).status).toBe(200);
      }
      // Taking the new one does not open the earlier one either: it cannot be merged in.
      const joined = ann.frames.length;
      ann.send({ type: "join" });
      await ann.next((fr) => isEvent("assigned")(fr) && fr.message.data.agentId === f.ids.ann, joined);
      const merge = ann.frames.length;
      ann.send({ type: "merge", fromConversationId: first });
      expect(await ann.next((fr) => fr.type === "error", merge)).toMatchObject({ code: "not_found" });
      expect(JSON.stringify(ann.frames)).not.toContain("SAM-NOTE");
    } finally {
      await setVisibility("all");
    }
  });

  it("where agents see all the team's chats, the earlier conversation reads as before", async () => {
    const { v, file } = await earlierConversationOfSam();
    const ann = await agentSocket(f.cookies.ann, v.roomId);
    await ann.next((fr) => fr.type === "live");
    expect(JSON.stringify(ann.frames)).toContain("SAM-NOTE");
    expect((await urlFor(v.roomId, file.key, f.cookies.ann)).status).toBe(200);
  });

  it("a conversation transferred to another team and closed there stays that team's: the inbox's team does not read its notes", async () => {
    const { v, visitor, agent: sam } = await assignedConversation();
    sam.send({ type: "transfer", teamId: f.otherTeamId });
    await sam.next((fr) => fr.type === "error" && fr.code === "forbidden"); // Sam may no longer see it
    const otto = await agentSocket(f.cookies.otto, v.roomId);
    const joined = otto.frames.length;
    otto.send({ type: "join" });
    await otto.next((fr) => isEvent("assigned")(fr) && fr.message.data.agentId === f.ids.otto, joined);
    otto.send({ type: "send", clientId: cid(), kind: "note", body: "OTHER-TEAM-NOTE escalate to legal" });
    await otto.next(isMessage("OTHER-TEAM-NOTE escalate to legal"));
    otto.send({ type: "close", reason: "resolved" });
    await otto.next((fr) => fr.type === "conversation" && fr.conversation.status === "closed");
    visitor.send({ type: "send", clientId: cid(), body: "hello again" });
    await visitor.next(isMessage("hello again"));
    const ann = await agentSocket(f.cookies.ann, v.roomId);
    await ann.next(isMessage("hello again"));
    expect(JSON.stringify(ann.frames)).not.toContain("OTHER-TEAM-NOTE");
  });
});
