// The inbox's menu bot (SPEC §2): bot → queued when the customer asks for a
// person or the bot gives up, bot → open when an agent takes it, and the bot
// stepping aside when someone enters the chat without taking it.
import { runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ChatRoom } from "../rooms/chat-room";
import type { HubStore } from "../teams/hub-store";
import type { TeamHub } from "../teams/team-hub";
import { botAnswer, pickOption } from "../rooms/bot-flow";
import { botFlowSchema } from "../settings";
import { call, login, seedAgent } from "./helpers";
import { cid, type RoomFixture, roomStub, setupRoomFixture } from "./room-fixture";
import { isEvent, isMessage, openSocket, type TestSocket } from "./ws";

const BOT = {
  enabled: true,
  greeting: "Hi! I am the shop's assistant. What can I do for you?",
  options: [
    { label: "Opening hours", reply: "We are open Monday to Friday, 9:00 to 17:00." },
    { label: "Talk to a person", handover: true },
  ],
  fallback: "Sorry, I did not get that.",
  giveUpAfter: 2,
  handoverMessage: "Connecting you with a person now.",
  awayMessage: "Nobody is here just now; we will answer when we are back.",
};

let f: RoomFixture;
beforeAll(async () => {
  f = await setupRoomFixture({}, { bot: BOT, autoGreeting: "Thanks! Someone will be with you shortly." });
});
afterEach(async () => {
  await f.closeAll();
});

const conversationOf = (roomId: string) => runInDurableObject(roomStub(roomId), (r: ChatRoom) => r.store.current()!);
const fromBot = (body: string) => (fr: any) => isMessage(body)(fr) && fr.message.author.type === "bot";

/** A visitor who wrote once: the conversation starts with the bot, which greeted them with its menu. */
async function withTheBot(first = "Hello") {
  const v = await f.newVisitor();
  const visitor = await f.visitorSocket(v.token);
  visitor.send({ type: "send", clientId: cid(), body: first });
  const greeting = await visitor.next((fr) => fr.type === "message" && fr.message.author.type === "bot");
  return { v, visitor, greeting };
}

/** Sam at his desk, online: in this auto-mode team, any queued conversation goes to him. */
async function samAtHisDesk(): Promise<TestSocket> {
  const desk = await openSocket(`/ws/team/${f.teamId}`, { cookie: f.cookies.sam });
  await desk.next((fr) => fr.type === "snapshot");
  const from = desk.frames.length;
  desk.send({ type: "status", status: "online" });
  await desk.next((fr) => fr.type === "presence" && fr.presence.agentId === f.ids.sam && fr.presence.status === "online", from);
  return desk;
}

async function leaveDesk(desk: TestSocket) {
  const from = desk.frames.length;
  desk.send({ type: "status", status: "break" });
  await desk.next((fr) => fr.type === "presence" && fr.presence.agentId === f.ids.sam && fr.presence.status === "break", from);
  await desk.close();
}

describe("the inbox's bot", () => {
  it("starts a new conversation: a greeting with a numbered menu, no auto-greeting, and nobody assigned though an agent is free", async () => {
    const desk = await samAtHisDesk();
    try {
      const { v, visitor, greeting } = await withTheBot("2"); // the first message is not read as a choice
      expect(greeting.message.body).toBe(`${BOT.greeting}\n\n1. Opening hours\n2. Talk to a person`);
      expect(greeting.message.data).toEqual({ menu: [{ number: 1, label: "Opening hours" }, { number: 2, label: "Talk to a person" }] });
      // The desk lists it (Live / Waiting) with the bot, unassigned.
      const listed = await desk.next((fr) => fr.type === "conversation" && fr.conversation.roomId === v.roomId);
      expect(listed.conversation).toMatchObject({ status: "bot", assigneeId: null, marker: "none" });
      // A bot conversation is not in the queue: the customer has no place in it.
      visitor.send({ type: "queue" });
      expect(await visitor.next((fr) => fr.type === "queue")).toMatchObject({ position: null });
      expect(await conversationOf(v.roomId)).toMatchObject({ status: "bot", assignee_id: null, waiting_since: null });
      expect(visitor.frames.some((fr) => isMessage("Thanks! Someone will be with you shortly.")(fr))).toBe(false);
    } finally {
      await leaveDesk(desk);
    }
  });

  it("answers an option and stays; the hand-over option puts the conversation in the queue, where auto assignment gives it to a free agent", async () => {
    const { v, visitor } = await withTheBot();
    visitor.send({ type: "send", clientId: cid(), body: "opening hours!" });
    await visitor.next((fr) => fr.type === "message" && fr.message.author.type === "bot" && fr.message.body.startsWith("We are open Monday to Friday, 9:00 to 17:00."));
    expect(await conversationOf(v.roomId)).toMatchObject({ status: "bot", assignee_id: null });

    const desk = await samAtHisDesk();
    try {
      visitor.send({ type: "send", clientId: cid(), body: "2" });
      await visitor.next(fromBot("Connecting you with a person now."));
      const handover = await visitor.next(isEvent("assigned"));
      expect(handover.message.data.agentId).toBe(f.ids.sam);
      const c = await conversationOf(v.roomId);
      expect(c).toMatchObject({ status: "open", assignee_id: f.ids.sam });
      expect(c.waiting_since).not.toBeNull(); // the customer waits for Sam's answer now
      // Agents see why; the customer does not.
      const agent = await f.agentSocket(f.cookies.sam, v.roomId);
      const line = await agent.next(isEvent("handover"));
      expect(line.message).toMatchObject({ internal: true, data: { event: "handover", reason: "asked" } });
      expect(visitor.frames.some(isEvent("handover"))).toBe(false);
    } finally {
      await leaveDesk(desk);
    }
  });

  it("gives up after answers in a row it does not understand and hands over, saying nobody is there when nobody is", async () => {
    const { v, visitor } = await withTheBot();
    visitor.send({ type: "send", clientId: cid(), body: "my parcel never arrived" });
    const fallback = await visitor.next((fr) => fr.type === "message" && fr.message.author.type === "bot" && fr.message.body.startsWith("Sorry, I did not get that."));
    expect(fallback.message.data.menu).toHaveLength(2);
    expect(await conversationOf(v.roomId)).toMatchObject({ status: "bot" });
    visitor.send({ type: "send", clientId: cid(), body: "where is it??" });
    // Nobody in the team is at a desk: the customer is not told someone is coming.
    await visitor.next(fromBot("Nobody is here just now; we will answer when we are back."));
    expect(visitor.frames.some(fromBot("Connecting you with a person now."))).toBe(false);
    expect(await conversationOf(v.roomId)).toMatchObject({ status: "queued", assignee_id: null });
    const agent = await f.agentSocket(f.cookies.ann, v.roomId);
    expect((await agent.next(isEvent("handover"))).message.data.reason).toBe("gave_up");
    // In the queue now, the customer has a place in it.
    visitor.send({ type: "queue" });
    expect((await visitor.next((fr) => fr.type === "queue" && fr.position !== null)).position).toBeGreaterThan(0);
    // And the bot says nothing more.
    const from = visitor.frames.length;
    visitor.send({ type: "send", clientId: cid(), body: "hello?" });
    await visitor.next(isMessage("hello?"), from);
    expect(await conversationOf(v.roomId)).toMatchObject({ status: "queued" });
    expect(visitor.frames.slice(from).filter((fr) => fr.type === "message" && fr.message.author.type === "bot")).toEqual([]);
  });

  it("an agent taking it from the Live list opens it as theirs (bot → open), and the bot stays quiet", async () => {
    const { v, visitor } = await withTheBot();
    const agent = await f.agentSocket(f.cookies.ann, v.roomId);
    agent.send({ type: "join" });
    await agent.next(isEvent("assigned"));
    expect(await conversationOf(v.roomId)).toMatchObject({ status: "open", assignee_id: f.ids.ann });
    const from = visitor.frames.length;
    visitor.send({ type: "send", clientId: cid(), body: "1" });
    await agent.next(isMessage("1"));
    agent.send({ type: "send", clientId: cid(), body: "Hi, Ann here." });
    await visitor.next(isMessage("Hi, Ann here."), from);
    expect(visitor.frames.slice(from).filter((fr) => fr.type === "message" && fr.message.author.type === "bot")).toEqual([]);
  });

  it("an admin from outside the team entering the chat makes the bot step aside: the team gets it in its queue", async () => {
    await seedAgent({ email: "bea@room.test", name: "Bea", role: "admin" });
    const { v, visitor } = await withTheBot();
    const bea = await f.agentSocket(await login("bea@room.test"), v.roomId);
    bea.send({ type: "join" });
    const line = await bea.next(isEvent("handover"));
    expect(line.message.body).toBe("The bot handed the conversation to the team: Bea entered the chat");
    await visitor.next(isEvent("joined"));
    expect(await conversationOf(v.roomId)).toMatchObject({ status: "queued", assignee_id: null });
    const participants = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.store.participants(r.store.current()!.id).map((p) => p.name));
    expect(participants).toEqual(["Bea"]);
  });

  it("a conversation left with the bot after the inbox switched it off goes to the queue with the customer's next message", async () => {
    const { v, visitor } = await withTheBot();
    await env.DB.prepare("UPDATE inboxes SET settings = json_set(settings, '$.bot.enabled', json('false')) WHERE id = ?").bind(f.inboxId).run();
    // A minute later, the room's copy of the inbox's settings is due for a new read.
    await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.store.setMeta("settings", { ...r.cachedSettings()!, loadedAt: Date.now() - 61_000 }));
    try {
      visitor.send({ type: "send", clientId: cid(), body: "1" });
      await visitor.next(isMessage("1"));
      const c = await conversationOf(v.roomId);
      expect(c).toMatchObject({ status: "queued" });
      const agent = await f.agentSocket(f.cookies.ann, v.roomId);
      expect((await agent.next(isEvent("handover"))).message.data.reason).toBe("bot_off");
    } finally {
      await env.DB.prepare("UPDATE inboxes SET settings = json_set(settings, '$.bot.enabled', json('true')) WHERE id = ?").bind(f.inboxId).run();
    }
  });

  it("a bot conversation ahead does not count in a queued customer's place", async () => {
    await withTheBot(); // with the bot, earlier
    const { v, visitor } = await withTheBot();
    visitor.send({ type: "send", clientId: cid(), body: "Talk to a person" });
    await visitor.next(fromBot(BOT.awayMessage)); // nobody at a desk in this test
    const queued = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.store.current()!.id);
    const hub = env.TEAM_HUB.get(env.TEAM_HUB.idFromName(f.teamId));
    const position = (await hub.queueStatus(queued)).position;
    // Its place counts the queued conversations that waited before it, none of the bot's.
    const summaries = await runInDurableObject(hub, (h: TeamHub) => (h as unknown as { store: HubStore }).store.conversations().map((c) => c.summary));
    const mine = summaries.find((s) => s.id === queued)!;
    const queuedAhead = summaries.filter((s) => s.status === "queued" && s.id !== queued && (s.waitingSince ?? s.startedAt) <= mine.waitingSince!).length + 1;
    expect(summaries.some((s) => s.status === "bot" && s.startedAt < mine.waitingSince!)).toBe(true);
    expect(position).toBe(queuedAhead);
  });
});

describe("the order of things", () => {
  it("a customer's next message, sent right after the one that hands over, is stored after it and not answered by the bot", async () => {
    const { v, visitor } = await withTheBot();
    visitor.send({ type: "send", clientId: cid(), body: "Talk to a person" });
    visitor.send({ type: "send", clientId: cid(), body: "my order is late" });
    await visitor.next(fromBot(BOT.awayMessage));
    await visitor.next(isMessage("my order is late"));
    const lines = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.store.messagesAfter(0, 100, true).map((m) => `${m.author.type}:${m.kind === "event" ? m.data?.event : m.body.split("\n")[0]}`));
    expect(lines.slice(2)).toEqual(["visitor:Talk to a person", "system:handover", "visitor:my order is late", `bot:${BOT.awayMessage}`]);
  });
});

describe("people and the bot", () => {
  it("a manager answering without joining is a person talking: the bot steps aside and says nothing more", async () => {
    const { v, visitor } = await withTheBot();
    const mia = await f.agentSocket(f.cookies.mia, v.roomId);
    mia.send({ type: "send", clientId: cid(), body: "Hi, Mia here. What happened?" });
    expect((await mia.next(isEvent("handover"))).message.data.reason).toBe("entered");
    const from = visitor.frames.length;
    visitor.send({ type: "send", clientId: cid(), body: "I want a refund" });
    await mia.next(isMessage("I want a refund"));
    visitor.send({ type: "send", clientId: cid(), body: "please" });
    await mia.next(isMessage("please"));
    expect(visitor.frames.slice(from).filter((fr) => fr.type === "message" && fr.message.author.type === "bot")).toEqual([]);
    expect(await conversationOf(v.roomId)).toMatchObject({ status: "queued" });
  });

  it("taken from the bot, the customer waits for the agent who took it: the wait and the response time start then", async () => {
    await env.DB.prepare("UPDATE teams SET settings = json_set(settings, '$.agentResponseTimeoutSeconds', 120) WHERE id = ?").bind(f.teamId).run();
    try {
      const { v } = await withTheBot(); // the new conversation reads the team's settings
      const ann = await f.agentSocket(f.cookies.ann, v.roomId);
      ann.send({ type: "join" });
      await ann.next(isEvent("assigned"));
      const c = await conversationOf(v.roomId);
      expect(c).toMatchObject({ status: "open", assignee_id: f.ids.ann });
      expect(c.waiting_since).not.toBeNull();
      const timers = await runInDurableObject(roomStub(v.roomId), (_r: ChatRoom, state) => state.storage.sql.exec("SELECT kind FROM timers WHERE key = ?", c.id).toArray().map((t) => t.kind));
      expect(timers).toContain("response");
    } finally {
      await env.DB.prepare("UPDATE teams SET settings = json_remove(settings, '$.agentResponseTimeoutSeconds') WHERE id = ?").bind(f.teamId).run();
    }
  });

  it("transferred to another team straight from the bot, the customer waits in that team's queue from then on", async () => {
    const { v } = await withTheBot();
    const mia = await f.agentSocket(f.cookies.mia, v.roomId);
    mia.send({ type: "transfer", teamId: f.otherTeamId, note: "Billing question" });
    await mia.next(isEvent("transferred"));
    const c = await conversationOf(v.roomId);
    expect(c).toMatchObject({ status: "queued", team_id: f.otherTeamId });
    expect(c.waiting_since).not.toBeNull();
  });

  it("the desk's preview shows the customer's words, not the bot's menu", async () => {
    const { v, visitor } = await withTheBot("my parcel never arrived");
    const preview = await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.summaryForHub()!.preview);
    expect(preview).toBe("my parcel never arrived");
    visitor.send({ type: "send", clientId: cid(), body: "1" });
    await visitor.next((fr) => fr.type === "message" && fr.message.author.type === "bot" && fr.message.body.startsWith("We are open"));
    expect(await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.summaryForHub()!.preview)).toBe("1");
  });
});

describe("bot settings", () => {
  it("an inbox's bot must offer a way to a person, and every option must answer or hand over (400, nothing stored)", async () => {
    await seedAgent({ email: "admin-bot@room.test", name: "Admin", role: "admin" });
    const admin = await login("admin-bot@room.test");
    const noWayOut = { ...BOT, options: [{ label: "Opening hours", reply: "9 to 5" }] };
    let res = await call(`/api/v1/inboxes/${f.inboxId}`, { method: "PATCH", cookie: admin, json: { settings: { bot: noWayOut } } });
    expect(res.status).toBe(400);
    const mute = { ...BOT, options: [{ label: "Nothing here" }, { label: "Person", handover: true }] };
    res = await call(`/api/v1/inboxes/${f.inboxId}`, { method: "PATCH", cookie: admin, json: { settings: { bot: mute } } });
    expect(res.status).toBe(400);
    const stored = await (await call(`/api/v1/inboxes/${f.inboxId}`, { cookie: admin })).json<any>();
    expect(stored.settings.bot).toMatchObject({ enabled: true, options: BOT.options.map((o) => ({ label: o.label })) });
    // A valid change is kept whole, defaults filled in.
    const edited = { enabled: true, greeting: "Hello!", options: [{ label: "Person", handover: true }] };
    res = await call(`/api/v1/inboxes/${f.inboxId}`, { method: "PATCH", cookie: admin, json: { settings: { bot: edited } } });
    expect(res.status).toBe(200);
    expect((await res.json<any>()).settings.bot).toMatchObject({ greeting: "Hello!", giveUpAfter: 2, fallback: expect.any(String), options: [{ label: "Person", handover: true }] });
    res = await call(`/api/v1/inboxes/${f.inboxId}`, { method: "PATCH", cookie: admin, json: { settings: { bot: BOT } } });
    expect(res.status).toBe(200);
  });

  it("a bot's fields left out of a change keep their values; switched off it may stay incomplete; null removes it", async () => {
    await seedAgent({ email: "admin-patch@room.test", name: "Admin", role: "admin" });
    const admin = await login("admin-patch@room.test");
    const inbox = await (await call("/api/v1/inboxes", { method: "POST", cookie: admin, json: { name: "Bot patch", kind: "web", teamId: f.teamId, settings: { bot: { ...BOT, fallback: "Pardon?" } } } })).json<any>();
    const patch = async (bot: unknown) => call(`/api/v1/inboxes/${inbox.id}`, { method: "PATCH", cookie: admin, json: { settings: { bot } } });
    let res = await patch({ greeting: "Hello again!" });
    expect(res.status).toBe(200);
    expect((await res.json<any>()).settings.bot).toMatchObject({ enabled: true, greeting: "Hello again!", fallback: "Pardon?", handoverMessage: BOT.handoverMessage, options: [{ label: "Opening hours" }, { label: "Talk to a person" }] });
    res = await patch({ enabled: false, greeting: "", options: [] });
    expect(res.status).toBe(200);
    res = await patch({ enabled: true });
    expect(res.status).toBe(400);
    expect(Object.keys((await res.json<any>()).error.fields)).toEqual(expect.arrayContaining(["settings.bot.greeting", "settings.bot.options"]));
    res = await patch({ options: [{ label: "Billing", reply: "Ask us" }, { label: "billing. ", handover: true }] });
    expect(res.status).toBe(400);
    expect((await res.json<any>()).error.fields).toHaveProperty(["settings.bot.options.1.label"]);
    res = await patch(null);
    expect(res.status).toBe(200);
    expect((await res.json<any>()).settings.bot).toBeUndefined();
  });

  it("an inbox whose stored bot breaks a rule added later still reads, runs its bot, and asks for the fix at the next change", async () => {
    await seedAgent({ email: "admin-stored@room.test", name: "Admin", role: "admin" });
    const admin = await login("admin-stored@room.test");
    const inbox = await (await call("/api/v1/inboxes", { method: "POST", cookie: admin, json: { name: "Old bot", kind: "web", teamId: f.teamId, settings: { bot: BOT } } })).json<any>();
    // As an earlier version stored it: two options whose names differ only in case.
    const stored = { ...BOT, options: [...BOT.options, { label: "opening HOURS", reply: "Still 9 to 5." }] };
    await env.DB.prepare("UPDATE inboxes SET settings = json_set(settings, '$.bot', json(?)) WHERE id = ?").bind(JSON.stringify(stored), inbox.id).run();
    const read = await call(`/api/v1/inboxes/${inbox.id}`, { cookie: admin });
    expect(read.status).toBe(200);
    expect((await read.json<any>()).settings.bot.options).toHaveLength(3);
    expect((await call("/api/v1/inboxes", { cookie: admin })).status).toBe(200);
    // A customer of that inbox is greeted by its bot.
    const session = await (await call(`/api/v1/widget/${inbox.id}/session`, { method: "POST", json: {}, headers: { "cf-connecting-ip": "10.9.9.9" } })).json<any>();
    const visitor = await f.visitorSocket(session.token);
    visitor.send({ type: "send", clientId: cid(), body: "Hi" });
    await visitor.next((fr) => fr.type === "message" && fr.message.author.type === "bot" && fr.message.body.startsWith(BOT.greeting));
    // The next change shows what to fix, next to the option.
    const res = await call(`/api/v1/inboxes/${inbox.id}`, { method: "PATCH", cookie: admin, json: { name: "Old bot, renamed" } });
    expect(res.status).toBe(400);
    expect((await res.json<any>()).error.fields).toHaveProperty(["settings.bot.options.2.label"]);
  });

  it("an option's name must be something a customer can type that is not a number", async () => {
    const admin = await login("admin-stored@room.test");
    for (const label of ["3", "?!", " . "]) {
      const res = await call(`/api/v1/inboxes/${f.inboxId}`, { method: "PATCH", cookie: admin, json: { settings: { bot: { options: [{ label, reply: "x" }, { label: "Person", handover: true }] } } } });
      expect(res.status, label).toBe(400);
      expect((await res.json<any>()).error.fields, label).toHaveProperty(["settings.bot.options.0.label"]);
    }
  });

  it("reads a choice by its number or its label, and nothing else", () => {
    const flow = botFlowSchema.parse(BOT);
    expect(["1", " 1. ", "1) hours please", "Opening Hours", "opening  hours!"].map((t) => pickOption(flow, t))).toEqual([0, 0, 0, 0, 0]);
    expect(["2", "talk to a person", "2 please"].map((t) => pickOption(flow, t))).toEqual([1, 1, 1]);
    expect(["3", "0", "12", "hours", "I want to talk to a person", ""].map((t) => pickOption(flow, t))).toEqual([null, null, null, null, null, null]);
    // Closing punctuation and spacing in any mix, however long the run; punctuation inside counts.
    expect(["\tOpening\nHours ?!. ", "talk to a person" + ".".repeat(16_000), "Opening. Hours", ".".repeat(16_000) + "x"].map((t) => pickOption(flow, t))).toEqual([0, 1, null, null]);
    // A label that starts with a number is picked by its label (what a widget button sends).
    const deals = botFlowSchema.parse({ ...BOT, options: [{ label: "Talk to a person", handover: true }, { label: "Opening hours", reply: "9 to 5" }, { label: "2 for 1 deals", reply: "Every Friday." }] });
    expect(pickOption(deals, "2 for 1 deals")).toBe(2);
    expect(pickOption(deals, "2")).toBe(1);
    // It gives up after answers in a row it does not understand: one it understood starts the count again.
    expect(botAnswer(flow, "?", 0)).toMatchObject({ handover: null, misses: 1 });
    expect(botAnswer(flow, "1", 1)).toMatchObject({ handover: null, misses: 0 });
    expect(botAnswer(flow, null, 1)).toMatchObject({ handover: "gave_up", misses: 2, lines: [] });
    // An answer that stays with the bot offers the menu again, in its text too (text channels).
    expect(botAnswer(flow, "1", 0).lines[0].body).toBe("We are open Monday to Friday, 9:00 to 17:00.\n\n1. Opening hours\n2. Talk to a person");
  });
});
