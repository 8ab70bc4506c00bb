// Assignment through the team hub and real chat rooms (SPEC §6).
import { evictDurableObject, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { describe, expect, it } from "vitest";
import type { ChatRoom } from "../rooms/chat-room";
import type { Assignment } from "../teams/assignment";
import type { HubStore } from "../teams/hub-store";
import type { TeamHub } from "../teams/team-hub";
import { hubTeams, is } from "./team-hub-fixture";

const team = hubTeams();

const countBy = (ids: (string | null)[]) => {
  const counts = new Map<string | null, number>();
  for (const id of ids) counts.set(id, (counts.get(id) ?? 0) + 1);
  return counts;
};

const FIVE = [{ name: "A1" }, { name: "A2" }, { name: "A3" }, { name: "A4" }, { name: "A5" }];

describe("auto assignment", () => {
  it("100 queued conversations are shared evenly among 5 available agents", async () => {
    const t = await team({ assignmentMode: "auto", defaultCapacity: 30 }, FIVE);
    for (const a of Object.values(t.agents)) await t.connect(a);
    await Promise.all(Array.from({ length: 100 }, () => t.newConversation()));
    await t.eventually(async () => {
      const all = await t.summaries();
      expect(all.filter((s) => s.status === "open")).toHaveLength(100);
    }, 30_000);
    const counts = countBy((await t.summaries()).map((s) => s.assigneeId));
    const values = Object.values(t.agents).map((a) => counts.get(a.id) ?? 0);
    expect(Math.max(...values) - Math.min(...values)).toBeLessThanOrEqual(1);
    expect(values.reduce((x, y) => x + y, 0)).toBe(100);
  }, 60_000);

  it("nobody gets more than their capacity and the rest stay queued", async () => {
    const t = await team({ assignmentMode: "auto", defaultCapacity: 10 }, [...FIVE.slice(0, 4), { name: "A5", capacity: 3 }]);
    for (const a of Object.values(t.agents)) await t.connect(a);
    await Promise.all(Array.from({ length: 100 }, () => t.newConversation()));
    await t.eventually(async () => {
      expect((await t.summaries()).filter((s) => s.status === "open")).toHaveLength(43);
    }, 30_000);
    const all = await t.summaries();
    const counts = countBy(all.map((s) => s.assigneeId));
    for (const name of ["A1", "A2", "A3", "A4"]) expect(counts.get(t.agents[name].id)).toBe(10);
    expect(counts.get(t.agents.A5.id)).toBe(3);
    expect(all.filter((s) => s.status === "queued" && s.assigneeId === null)).toHaveLength(57);
  }, 60_000);

  it("closing a conversation frees capacity and the oldest queued conversation is assigned", async () => {
    const t = await team({ assignmentMode: "auto", defaultCapacity: 1 }, [{ name: "Ann" }]);
    await t.connect(t.agents.Ann);
    const first = await t.newConversation();
    const second = await t.newConversation();
    const third = await t.newConversation();
    await t.eventually(async () => expect((await t.summary(first.conversationId))?.assigneeId).toBe(t.agents.Ann.id));
    expect((await t.summary(second.conversationId))?.status).toBe("queued");
    await t.close(first.address);
    await t.eventually(async () => expect((await t.summary(second.conversationId))?.assigneeId).toBe(t.agents.Ann.id));
    expect((await t.summary(third.conversationId))?.status).toBe("queued");
    expect(await t.summary(first.conversationId)).toBeNull();
  });

  it("an agent who reopens a closed conversation gets it back, even when auto mode would pick someone else", async () => {
    const t = await team({ assignmentMode: "auto", defaultCapacity: 5 }, [{ name: "Ann" }, { name: "Ben" }]);
    await t.connect(t.agents.Ann);
    const first = await t.newConversation();
    await t.eventually(async () => expect((await t.summary(first.conversationId))?.assigneeId).toBe(t.agents.Ann.id));
    const busy = await t.newConversation(); // Ann now has two, Ben (not yet online) none
    await t.eventually(async () => expect((await t.summary(busy.conversationId))?.assigneeId).toBe(t.agents.Ann.id));
    await t.close(first.address);
    await t.eventually(async () => expect(await t.summary(first.conversationId)).toBeNull());
    await t.connect(t.agents.Ben);
    const room = env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(first.roomId));
    const res = await room.perform(t.agents.Ann.identity, first.address, { type: "reopen" });
    expect(res.ok).toBe(true);
    await t.eventually(async () => expect(await t.summary(first.conversationId)).toMatchObject({ status: "open", assigneeId: t.agents.Ann.id }));
    await t.settled();
    expect((await t.summary(first.conversationId))?.assigneeId).toBe(t.agents.Ann.id);
  });

  it("an agent at capacity who reopens a conversation does not get it: it waits in the queue and auto mode hands it on", async () => {
    const t = await team({ assignmentMode: "auto", defaultCapacity: 1 }, [{ name: "Ann" }, { name: "Ben" }]);
    await t.connect(t.agents.Ann);
    const first = await t.newConversation();
    await t.eventually(async () => expect((await t.summary(first.conversationId))?.assigneeId).toBe(t.agents.Ann.id));
    await t.close(first.address);
    const busy = await t.newConversation(); // Ann's one slot
    await t.eventually(async () => expect((await t.summary(busy.conversationId))?.assigneeId).toBe(t.agents.Ann.id));
    await t.connect(t.agents.Ben);
    const room = env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(first.roomId));
    expect((await room.perform(t.agents.Ann.identity, first.address, { type: "reopen" })).ok).toBe(true);
    await t.eventually(async () => expect(await t.summary(first.conversationId)).toMatchObject({ status: "open", assigneeId: t.agents.Ben.id }));
  });

  it("ties on open chats go to the agent idle longest, not to the first in the list", async () => {
    const t = await team({ assignmentMode: "auto" }, [{ name: "Ann" }, { name: "Ben" }]);
    const tick = () => runInDurableObject(t.hub, (h: TeamHub) => h.clock.advance(1000));
    await t.connect(t.agents.Ann);
    const c1 = await t.newConversation();
    await t.eventually(async () => expect((await t.summary(c1.conversationId))?.assigneeId).toBe(t.agents.Ann.id));
    await t.close(c1.address);
    await t.eventually(async () => expect(await t.summary(c1.conversationId)).toBeNull());
    await tick();
    // Both have 0 open chats; Ben never had one, so he has been idle longest.
    await t.connect(t.agents.Ben);
    const c2 = await t.newConversation();
    await t.eventually(async () => expect((await t.summary(c2.conversationId))?.assigneeId).toBe(t.agents.Ben.id));
    await t.close(c2.address);
    await t.eventually(async () => expect(await t.summary(c2.conversationId)).toBeNull());
    await tick();
    // Both at 0 again; Ann's last chat is older than Ben's.
    const c3 = await t.newConversation();
    await t.eventually(async () => expect((await t.summary(c3.conversationId))?.assigneeId).toBe(t.agents.Ann.id));
  });

  it("going offline hands the agent's open chats to another agent", async () => {
    const t = await team({ assignmentMode: "auto" }, [{ name: "Ann" }, { name: "Ben" }]);
    const ann = await t.connect(t.agents.Ann);
    const c1 = await t.newConversation();
    const c2 = await t.newConversation();
    await t.eventually(async () => {
      for (const c of [c1, c2]) expect((await t.summary(c.conversationId))?.assigneeId).toBe(t.agents.Ann.id);
    });
    await t.connect(t.agents.Ben);
    ann.send({ type: "status", status: "offline" });
    await t.eventually(async () => {
      for (const c of [c1, c2]) expect((await t.summary(c.conversationId))?.assigneeId).toBe(t.agents.Ben.id);
    });
    const presence = await ann.next(is("presence", (f) => f.presence.agentId === t.agents.Ann.id && f.presence.status === "offline" && f.presence.openChats === 0));
    expect(presence.presence.available).toBe(false);
  });

  it("going offline with nobody else available puts the chats back in the queue", async () => {
    const t = await team({ assignmentMode: "auto" }, [{ name: "Ann" }]);
    const ann = await t.connect(t.agents.Ann);
    const c1 = await t.newConversation();
    await t.eventually(async () => expect((await t.summary(c1.conversationId))?.assigneeId).toBe(t.agents.Ann.id));
    ann.send({ type: "status", status: "offline" });
    await t.eventually(async () => expect(await t.summary(c1.conversationId)).toMatchObject({ status: "queued", assigneeId: null }));
  });

  it("an agent removed from the team, or whose account is disabled, gives up their chats: to another available agent, else back to the queue", async () => {
    const t = await team({ assignmentMode: "auto" }, [{ name: "Ann" }, { name: "Ben" }]);
    await t.connect(t.agents.Ann);
    const c1 = await t.newConversation();
    await t.eventually(async () => expect((await t.summary(c1.conversationId))?.assigneeId).toBe(t.agents.Ann.id));
    await t.connect(t.agents.Ben);
    await env.DB.prepare("DELETE FROM team_members WHERE agent_id = ? AND team_id = ?").bind(t.agents.Ann.id, t.teamId).run();
    await t.hub.membersChanged([t.agents.Ann.id]);
    await t.eventually(async () => expect((await t.summary(c1.conversationId))?.assigneeId).toBe(t.agents.Ben.id));
    const lines = await runInDurableObject(env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(c1.roomId)), (r: ChatRoom) => r.store.messagesAfter(0, 100, true).map((m) => m.body));
    expect(lines).toContain("Ann is no longer in the team; the conversation is back in the queue");
    // Ben's account is disabled with nobody left to take his chat: it waits in the queue.
    await env.DB.prepare("UPDATE agents SET active = 0 WHERE id = ?").bind(t.agents.Ben.id).run();
    await t.hub.membersChanged([t.agents.Ben.id]);
    await t.eventually(async () => expect(await t.summary(c1.conversationId)).toMatchObject({ status: "queued", assigneeId: null }));
  });

  it("outside business hours nothing is assigned; at opening time the queue is", async () => {
    // Closed all of today (a holiday), open every day otherwise: the switch is at next midnight UTC.
    const today = new Date().toISOString().slice(0, 10);
    const allDay = Object.fromEntries(["0", "1", "2", "3", "4", "5", "6"].map((d) => [d, [{ start: "00:00", end: "00:00" }]]));
    const t = await team({ assignmentMode: "auto", businessHours: { enabled: true, timezone: "UTC", weekly: allDay, holidays: [today] } }, [{ name: "Ann" }]);
    const ann = await t.connect(t.agents.Ann);
    expect(ann.all("snapshot")[0].presence.find((p: any) => p.agentId === t.agents.Ann.id).available).toBe(false);
    const c1 = await t.newConversation();
    await t.settled();
    expect((await t.summary(c1.conversationId))?.status).toBe("queued");
    expect((await t.timers()).some((x) => x.kind === "hours")).toBe(true);

    const midnight = Date.parse(`${today}T00:00:00Z`) + 86_400_000;
    await t.advance(midnight - Date.now() + 1000);
    await t.eventually(async () => expect((await t.summary(c1.conversationId))?.assigneeId).toBe(t.agents.Ann.id));
    await ann.next(is("presence", (f) => f.presence.agentId === t.agents.Ann.id && f.presence.available));
  });
});

describe("grab mode", () => {
  it("many agents take the same offer at once: exactly one wins, the others see it withdrawn", async () => {
    const people = Array.from({ length: 8 }, (_, i) => ({ name: `G${i}` }));
    const t = await team({ assignmentMode: "grab" }, people);
    const sockets = await Promise.all(Object.values(t.agents).map((a) => t.connect(a)));
    const c = await t.newConversation();
    const offers = await Promise.all(sockets.map((s) => s.next(is("offer", (f) => f.conversation.id === c.conversationId))));
    expect(offers).toHaveLength(8);

    for (const s of sockets) s.send({ type: "take", conversationId: c.conversationId });
    await t.eventually(async () => expect((await t.summary(c.conversationId))?.status).toBe("open"));
    const summary = (await t.summary(c.conversationId))!;
    const winner = Object.values(t.agents).find((a) => a.id === summary.assigneeId)!;
    expect(winner).toBeDefined();
    expect(summary.participantIds).toEqual([winner.id]);

    for (const [i, s] of sockets.entries()) {
      const withdrawn = await s.next(is("offerWithdrawn", (f) => f.conversationId === c.conversationId));
      expect(withdrawn.takenBy).toBe(winner.id);
      await s.flush();
      const refused = s.all("error").filter((e) => e.code === "conflict");
      expect(refused).toHaveLength(Object.values(t.agents)[i].id === winner.id ? 0 : 1);
    }
  });

  it("managers get no offers and cannot grab, but can assign the conversation to themselves", async () => {
    const t = await team({ assignmentMode: "grab" }, [{ name: "Ann" }, { name: "Mia", role: "manager" }]);
    const ann = await t.connect(t.agents.Ann);
    const mia = await t.connect(t.agents.Mia);
    const c = await t.newConversation();
    await ann.next(is("offer", (f) => f.conversation.id === c.conversationId));
    await mia.flush();
    expect(mia.all("offer")).toHaveLength(0);

    const from = mia.frames.length;
    mia.send({ type: "take", conversationId: c.conversationId });
    expect((await mia.next(is("error"), from)).code).toBe("managers_join");

    mia.send({ type: "assign", conversationId: c.conversationId, agentId: t.agents.Mia.id });
    expect((await ann.next(is("offerWithdrawn"))).takenBy).toBe(t.agents.Mia.id);
    await t.eventually(async () => expect((await t.summary(c.conversationId))?.assigneeId).toBe(t.agents.Mia.id));
  });

  it("an agent who becomes available later gets the standing offers", async () => {
    const t = await team({ assignmentMode: "grab" }, [{ name: "Ann" }]);
    const ann = await t.connect(t.agents.Ann);
    ann.send({ type: "status", status: "break" });
    await ann.next(is("presence", (f) => f.presence.status === "break"));
    const c = await t.newConversation();
    await ann.flush();
    expect(ann.all("offer")).toHaveLength(0);
    ann.send({ type: "status", status: "online" });
    await ann.next(is("offer", (f) => f.conversation.id === c.conversationId));
  });

  it("closing an offered conversation withdraws the offer", async () => {
    const t = await team({ assignmentMode: "grab" }, [{ name: "Ann" }]);
    const ann = await t.connect(t.agents.Ann);
    const c = await t.newConversation();
    await ann.next(is("offer"));
    await t.close(c.address);
    const withdrawn = await ann.next(is("offerWithdrawn"));
    expect(withdrawn).toMatchObject({ conversationId: c.conversationId, takenBy: null });
    await ann.next(is("removed", (f) => f.conversationId === c.conversationId));
  });
});

describe("manual mode and permissions", () => {
  it("nothing is assigned automatically; a manager's assign hands it over", async () => {
    const t = await team({ assignmentMode: "manual" }, [{ name: "Ann" }, { name: "Mia", role: "manager" }]);
    const ann = await t.connect(t.agents.Ann);
    const mia = await t.connect(t.agents.Mia);
    const c = await t.newConversation();
    await t.settled();
    expect((await t.summary(c.conversationId))?.status).toBe("queued");
    mia.send({ type: "assign", conversationId: c.conversationId, agentId: t.agents.Ann.id });
    await ann.next(is("conversation", (f) => f.conversation.id === c.conversationId && f.conversation.assigneeId === t.agents.Ann.id));
  });

  it("a claim whose room never answers expires after a minute and frees the agent's slot", async () => {
    const t = await team({ assignmentMode: "manual" }, [{ name: "Ann" }, { name: "Ben" }]);
    const ann = await t.connect(t.agents.Ann);
    const first = await t.newConversation();
    const second = await t.newConversation();
    await t.settled();
    // Claims made as a hand-over starts, with the room's answer never arriving.
    const claimed = ann.frames.length;
    await runInDurableObject(t.hub, (h: TeamHub) => {
      const hub = h as unknown as { assignment: Assignment; store: HubStore; publishPresence(ids: string[]): void };
      for (const c of [first, second]) hub.assignment.claim(hub.store.conversation(c.conversationId)!, t.agents.Ann.id);
      hub.publishPresence([t.agents.Ann.id]);
    });
    await ann.next(is("presence", (f) => f.presence.agentId === t.agents.Ann.id && f.presence.openChats === 2), claimed);
    // Both claims wait on one sweep timer, not a timer each.
    expect((await t.timers()).filter((x) => x.kind === "claims" || x.kind === "claim")).toEqual([{ kind: "claims", key: "sweep" }]);
    const before = ann.frames.length;
    await t.advance(30_000);
    await ann.flush();
    expect(ann.frames.slice(before).some((f) => f.type === "presence" && f.presence.openChats === 0)).toBe(false);
    await t.advance(31_000);
    await ann.next(is("presence", (f) => f.presence.agentId === t.agents.Ann.id && f.presence.openChats === 0), before);
    // Free again: Ben can be handed either conversation.
    const claims = await runInDurableObject(t.hub, (_h: TeamHub, state) => state.storage.sql.exec("SELECT id FROM conversations WHERE claim_agent_id IS NOT NULL").toArray());
    expect(claims).toEqual([]);
    expect((await t.timers()).filter((x) => x.kind === "claims")).toEqual([]);
  });

  it("an agent cannot assign conversations to others", async () => {
    const t = await team({ assignmentMode: "manual" }, [{ name: "Ann" }, { name: "Ben" }]);
    const ann = await t.connect(t.agents.Ann);
    const c = await t.newConversation();
    ann.send({ type: "assign", conversationId: c.conversationId, agentId: t.agents.Ben.id });
    expect((await ann.next(is("error"))).code).toBe("forbidden");
    expect((await t.summary(c.conversationId))?.status).toBe("queued");
  });

  it("a manager demoted to agent loses manager rights at once, even over a desk opened before", async () => {
    const t = await team({ assignmentMode: "manual" }, [{ name: "Mia", role: "manager" }, { name: "Ben" }]);
    const mia = await t.connect(t.agents.Mia);
    const c = await t.newConversation();
    await env.DB.prepare("UPDATE team_members SET role = 'agent' WHERE team_id = ? AND agent_id = ?").bind(t.teamId, t.agents.Mia.id).run();
    await t.hub.membersChanged();
    // Her desk is reconnected (closed here), to come back with the new role.
    await new Promise<void>((resolve) => (mia.ws.readyState === WebSocket.CLOSED ? resolve() : mia.ws.addEventListener("close", () => resolve(), { once: true })));
    // Her stale identity (a room socket opened as manager) cannot assign through the hub either.
    const res = await t.hub.assign({ conversationId: c.conversationId, roomId: c.roomId, agent: { id: t.agents.Ben.id, name: "Ben" }, by: t.agents.Mia.identity, mode: "assign" });
    expect(res).toMatchObject({ ok: false, code: "forbidden" });
    expect((await t.summary(c.conversationId))?.status).toBe("queued");
  });

  it("a take beyond the agent's capacity is refused", async () => {
    const t = await team({ assignmentMode: "manual" }, [{ name: "Ann", capacity: 1 }]);
    const ann = await t.connect(t.agents.Ann);
    const c1 = await t.newConversation();
    const c2 = await t.newConversation();
    ann.send({ type: "take", conversationId: c1.conversationId });
    await ann.next(is("conversation", (f) => f.conversation.id === c1.conversationId && f.conversation.status === "open"));
    ann.send({ type: "take", conversationId: c2.conversationId });
    expect((await ann.next(is("error"))).code).toBe("over_capacity");
  });

  it("an agent who is offline cannot take a conversation, and the customer sees nobody join", async () => {
    const t = await team({ assignmentMode: "manual" }, [{ name: "Ann" }]);
    const ann = await t.connect(t.agents.Ann);
    const c = await t.newConversation();
    ann.send({ type: "status", status: "offline" });
    await ann.next(is("presence", (f) => f.presence.agentId === t.agents.Ann.id && f.presence.status === "offline"));
    const lastSeq = await runInDurableObject(env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(c.roomId)), (r: ChatRoom) => r.store.lastSeq());
    ann.send({ type: "take", conversationId: c.conversationId });
    expect(await ann.next(is("error"))).toMatchObject({ code: "agent_unavailable" });
    await t.settled();
    expect(await t.summary(c.conversationId)).toMatchObject({ status: "queued", assigneeId: null });
    expect(await runInDurableObject(env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(c.roomId)), (r: ChatRoom) => r.store.lastSeq())).toBe(lastSeq);
    // Back online, the same take goes through.
    ann.send({ type: "status", status: "online" });
    ann.send({ type: "take", conversationId: c.conversationId });
    await ann.next(is("conversation", (f) => f.conversation.id === c.conversationId && f.conversation.assigneeId === t.agents.Ann.id));
  });

  it("someone who is not a member of the team cannot take its conversations", async () => {
    const t = await team({ assignmentMode: "manual" }, [{ name: "Ann" }]);
    const other = await team({}, [{ name: "Otto" }]);
    const c = await t.newConversation();
    const otto = other.agents.Otto.identity;
    // Not even a desk socket…
    const res = await t.hub.fetch(new Request("https://hub.test/ws", { headers: { upgrade: "websocket", "x-edgedesk-identity": JSON.stringify(otto) } }));
    expect(res.status).toBe(403);
    // …and claiming membership the hub cannot find in D1 does not help.
    const forged = { ...otto, teams: [{ teamId: t.teamId, role: "agent" as const }] };
    const result = await t.hub.assign({ conversationId: c.conversationId, roomId: c.roomId, agent: { id: otto.agentId, name: "Otto" }, by: forged, mode: "take" });
    expect(result).toMatchObject({ ok: false, code: "forbidden" });
    expect((await t.summary(c.conversationId))?.status).toBe("queued");
  });

  it("a manager cannot assign a conversation to an agent who is offline or never opened the desk; to one on a break, yes", async () => {
    const t = await team({ assignmentMode: "manual" }, [{ name: "Ann" }, { name: "Ben" }, { name: "Mia", role: "manager" }]);
    const c = await t.newConversation();
    const assignTo = (name: "Ann" | "Ben") => t.hub.assign({ conversationId: c.conversationId, roomId: c.roomId, agent: { id: t.agents[name].id, name }, by: t.agents.Mia.identity, mode: "assign" });
    expect(await assignTo("Ann")).toMatchObject({ ok: false, code: "agent_unavailable", message: "Ann is offline." });
    const ben = await t.connect(t.agents.Ben);
    ben.send({ type: "status", status: "offline" });
    await ben.next(is("presence", (f) => f.presence.agentId === t.agents.Ben.id && f.presence.status === "offline"));
    expect(await assignTo("Ben")).toMatchObject({ ok: false, code: "agent_unavailable" });
    expect(await t.summary(c.conversationId)).toMatchObject({ status: "queued", assigneeId: null });
    ben.send({ type: "status", status: "break" });
    await ben.next(is("presence", (f) => f.presence.agentId === t.agents.Ben.id && f.presence.status === "break"));
    expect(await assignTo("Ben")).toEqual({ ok: true });
    await t.eventually(async () => expect(await t.summary(c.conversationId)).toMatchObject({ status: "open", assigneeId: t.agents.Ben.id }));
  });

  it("a transfer to an agent who is not online is refused", async () => {
    const t = await team({ assignmentMode: "manual" }, [{ name: "Ann" }, { name: "Ben" }]);
    const ann = await t.connect(t.agents.Ann);
    const c = await t.newConversation();
    ann.send({ type: "take", conversationId: c.conversationId });
    await t.eventually(async () => expect((await t.summary(c.conversationId))?.assigneeId).toBe(t.agents.Ann.id));
    const result = await t.hub.assign({ conversationId: c.conversationId, roomId: c.roomId, agent: { id: t.agents.Ben.id, name: "Ben" }, by: t.agents.Ann.identity, mode: "transfer" });
    expect(result).toMatchObject({ ok: false, code: "agent_unavailable" });
    await t.connect(t.agents.Ben);
    const ok = await t.hub.assign({ conversationId: c.conversationId, roomId: c.roomId, agent: { id: t.agents.Ben.id, name: "Ben" }, by: t.agents.Ann.identity, mode: "transfer" });
    expect(ok).toEqual({ ok: true });
    await t.eventually(async () => expect((await t.summary(c.conversationId))?.assigneeId).toBe(t.agents.Ben.id));
  });

  it("a transfer to an agent at capacity is refused; a manager's assign may go past it", async () => {
    const t = await team({ assignmentMode: "manual" }, [{ name: "Ann" }, { name: "Ben", capacity: 1 }, { name: "Mia", role: "manager" }]);
    const ann = await t.connect(t.agents.Ann);
    const ben = await t.connect(t.agents.Ben);
    const [mine, bens, third] = [await t.newConversation(), await t.newConversation(), await t.newConversation()];
    ann.send({ type: "take", conversationId: mine.conversationId });
    ben.send({ type: "take", conversationId: bens.conversationId });
    await t.eventually(async () => expect((await t.summary(bens.conversationId))?.assigneeId).toBe(t.agents.Ben.id));
    await t.eventually(async () => expect((await t.summary(mine.conversationId))?.assigneeId).toBe(t.agents.Ann.id));
    const refused = await t.hub.assign({ conversationId: mine.conversationId, roomId: mine.roomId, agent: { id: t.agents.Ben.id, name: "Ben" }, by: t.agents.Ann.identity, mode: "transfer" });
    expect(refused).toMatchObject({ ok: false, code: "over_capacity" });
    expect((await t.summary(mine.conversationId))?.assigneeId).toBe(t.agents.Ann.id);
    const assigned = await t.hub.assign({ conversationId: third.conversationId, roomId: third.roomId, agent: { id: t.agents.Ben.id, name: "Ben" }, by: t.agents.Mia.identity, mode: "assign" });
    expect(assigned).toEqual({ ok: true });
  });
});

describe("agent response timeout: is there someone else? (SPEC §4)", () => {
  it("counts only other available members with room, and in grab mode not managers", async () => {
    const t = await team({ assignmentMode: "grab" }, [{ name: "Ann" }, { name: "Ben", capacity: 1 }, { name: "Mia", role: "manager" }]);
    const ann = await t.connect(t.agents.Ann);
    await t.connect(t.agents.Mia); // online, but a manager
    const c = await t.newConversation();
    ann.send({ type: "take", conversationId: c.conversationId });
    await ann.next(is("conversation", (f) => f.conversation.id === c.conversationId && f.conversation.status === "open"));
    const could = () => t.hub.couldReassign(c.conversationId, t.agents.Ann.id);
    // Ann herself does not count, nor Mia: in grab mode managers join, they do not take.
    expect(await could()).toBe(false);
    const ben = await t.connect(t.agents.Ben);
    await t.eventually(async () => expect(await could()).toBe(true));
    // Ben full (capacity 1) is no one to hand it to either.
    const c2 = await t.newConversation();
    ben.send({ type: "take", conversationId: c2.conversationId });
    await ben.next(is("conversation", (f) => f.conversation.id === c2.conversationId && f.conversation.status === "open"));
    expect(await could()).toBe(false);
  });

  it("in manual mode any other available member could take it, a manager too; one on a break could not", async () => {
    const t = await team({ assignmentMode: "manual" }, [{ name: "Ann" }, { name: "Mia", role: "manager" }]);
    const ann = await t.connect(t.agents.Ann);
    const c = await t.newConversation();
    ann.send({ type: "take", conversationId: c.conversationId });
    await ann.next(is("conversation", (f) => f.conversation.id === c.conversationId && f.conversation.status === "open"));
    expect(await t.hub.couldReassign(c.conversationId, t.agents.Ann.id)).toBe(false);
    const mia = await t.connect(t.agents.Mia);
    expect(await t.hub.couldReassign(c.conversationId, t.agents.Ann.id)).toBe(true);
    mia.send({ type: "status", status: "break" });
    await mia.next(is("presence", (f) => f.presence.agentId === t.agents.Mia.id && f.presence.status === "break"));
    expect(await t.hub.couldReassign(c.conversationId, t.agents.Ann.id)).toBe(false);
  });
});

describe("queue position and estimated wait (SPEC §6)", () => {
  const queueOf = async (t: Awaited<ReturnType<typeof team>>, c: { roomId: string; address: { contactKey: string; inboxId: string } }) => {
    const room = env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(c.roomId));
    const res = await room.perform({ kind: "visitor", inboxId: c.address.inboxId, contactKey: c.address.contactKey }, c.address as never, { type: "queue" });
    expect(res.ok).toBe(true);
    return (res as unknown as { queue: unknown }).queue;
  };

  it("a waiting customer learns their place; with nobody available there is no estimate and the widget can offer the offline form", async () => {
    const t = await team({ assignmentMode: "auto" }, [{ name: "Ann" }]);
    const chats = [await t.newConversation(), await t.newConversation(), await t.newConversation()];
    expect(await queueOf(t, chats[1])).toEqual({ position: 2, estimatedWaitSeconds: null, agentsAvailable: false });
    expect(await queueOf(t, chats[0])).toMatchObject({ position: 1 });
  });

  // The hub's answer itself (a room answers a widget asking again within 5 s from its last one).
  it("the estimate follows the pace at which the team has been taking chats from the queue", async () => {
    const t = await team({ assignmentMode: "manual" }, [{ name: "Mia", role: "manager" }, { name: "Ann" }]);
    await t.connect(t.agents.Ann); // available, so there is someone to wait for
    const chats: Awaited<ReturnType<typeof t.newConversation>>[] = [];
    for (let i = 0; i < 5; i++) chats.push(await t.newConversation());
    expect(await t.hub.queueStatus(chats[3].conversationId)).toEqual({ position: 4, estimatedWaitSeconds: null, agentsAvailable: true }); // no pace yet
    for (const c of chats.slice(0, 3)) {
      const res = await t.hub.assign({ conversationId: c.conversationId, roomId: c.roomId, agent: { id: t.agents.Ann.id, name: "Ann" }, by: t.agents.Mia.identity, mode: "assign" });
      expect(res.ok).toBe(true);
      await t.advance(60_000); // a chat taken every minute
    }
    await t.eventually(async () => expect((await t.summary(chats[2].conversationId))?.status).toBe("open"));
    // One a minute, and they had all been waiting: next in line in about a minute, the one after in two.
    expect(await t.hub.queueStatus(chats[3].conversationId)).toEqual({ position: 1, estimatedWaitSeconds: 60, agentsAvailable: true });
    expect(await t.hub.queueStatus(chats[4].conversationId)).toEqual({ position: 2, estimatedWaitSeconds: 120, agentsAvailable: true });
    const taken = await t.hub.queueStatus(chats[0].conversationId);
    expect(taken).toMatchObject({ position: null, estimatedWaitSeconds: null });
    // The pace is stored: a hub evicted meanwhile (as an idle one is) still has it.
    await evictDurableObject(t.hub);
    expect(await t.hub.queueStatus(chats[3].conversationId)).toMatchObject({ position: 1, estimatedWaitSeconds: 60 });
  });
});
