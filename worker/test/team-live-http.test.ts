import { runDurableObjectAlarm, runInDurableObject } from "cloudflare:test";
import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it } from "vitest";
import type { ChatRoom } from "../rooms/chat-room";
import type { RoomPort } from "../teams/rooms-port";
import type { TeamHub } from "../teams/team-hub";
import { call, login, seedAgent, seedInbox, seedTeam } from "./helpers";
import { cid, type RoomFixture, roomStub, setupRoomFixture } from "./room-fixture";
import { isEvent, isMessage, openSocket } from "./ws";

let f: RoomFixture;
let admin: string;
beforeAll(async () => {
  f = await setupRoomFixture({ assignmentMode: "manual" });
  await seedAgent({ email: "root@live.test", role: "admin" });
  admin = await login("root@live.test");
});
afterEach(async () => {
  await f.closeAll();
});

describe("team hub over HTTP", () => {
  it("an integration reads the live queue, sets presence and takes a conversation without a socket", async () => {
    const v = await f.newVisitor();
    const visitor = await f.visitorSocket(v.token);
    visitor.send({ type: "send", clientId: cid(), body: "Anyone there?" });
    await visitor.next(isMessage("Anyone there?"));

    const status = await call(`/api/v1/teams/${f.teamId}/presence`, { method: "POST", cookie: f.cookies.ann, json: { status: "break" } });
    expect(status.status).toBe(200);
    let live = await (await call(`/api/v1/teams/${f.teamId}/live`, { cookie: f.cookies.ann })).json<any>();
    expect(live.presence.find((p: any) => p.agentId === f.ids.ann).status).toBe("break");
    const queued = live.conversations.find((c: any) => c.roomId === v.roomId);
    expect(queued.status).toBe("queued");

    const take = await call(`/api/v1/teams/${f.teamId}/take`, { method: "POST", cookie: f.cookies.ann, json: { conversationId: queued.id } });
    expect(take.status).toBe(200);
    await visitor.next((fr) => fr.type === "message" && fr.message.data?.event === "assigned");
    live = await (await call(`/api/v1/teams/${f.teamId}/live`, { cookie: f.cookies.ann })).json<any>();
    expect(live.conversations.find((c: any) => c.id === queued.id).assigneeId).toBe(f.ids.ann);

    // Same checks as the socket: an agent cannot assign, an outsider cannot read.
    const assign = await call(`/api/v1/teams/${f.teamId}/assign`, { method: "POST", cookie: f.cookies.sam, json: { conversationId: queued.id, agentId: f.ids.sam } });
    expect(assign.status).toBe(403);
    expect((await call(`/api/v1/teams/${f.teamId}/live`, { cookie: f.cookies.otto })).status).toBe(403);
    const bad = await call(`/api/v1/teams/${f.teamId}/presence`, { method: "POST", cookie: f.cookies.ann, json: { status: "asleep" } });
    expect(bad.status).toBe(400);
  });
});

/** A visitor who wrote once; the conversation waits in the (manual) team's queue. */
async function queuedConversation() {
  const v = await f.newVisitor();
  const visitor = await f.visitorSocket(v.token);
  visitor.send({ type: "send", clientId: cid(), body: "Is anyone there?" });
  await visitor.next(isMessage("Is anyone there?"));
  const live = await (await call(`/api/v1/teams/${f.teamId}/live`, { cookie: f.cookies.mia })).json<any>();
  return { v, visitor, conversationId: live.conversations.find((c: any) => c.roomId === v.roomId).id as string };
}

/** The room has pushed its latest summary to its team hubs. */
const hubsUpToDate = (roomId: string) => runInDurableObject(roomStub(roomId), (r: ChatRoom) => r.hubUpToDate());

describe("team hub refusals over HTTP", () => {
  it("assigning to an agent who is not in the team is a 409 not_member, not a 403", async () => {
    const { conversationId } = await queuedConversation();
    const res = await call(`/api/v1/teams/${f.teamId}/assign`, { method: "POST", cookie: f.cookies.mia, json: { conversationId, agentId: f.ids.otto } });
    expect(res.status).toBe(409);
    expect((await res.json<any>()).error).toMatchObject({ code: "not_member" });
    const live = await (await call(`/api/v1/teams/${f.teamId}/live`, { cookie: f.cookies.mia })).json<any>();
    expect(live.conversations.find((c: any) => c.id === conversationId)).toMatchObject({ status: "queued", assigneeId: null });
  });

  it("a room that cannot be reached is a 503 room_unavailable with a JSON error; taking again works once it is back", async () => {
    const { v, visitor, conversationId } = await queuedConversation();
    const hub = env.TEAM_HUB.get(env.TEAM_HUB.idFromName(f.teamId));
    // The hub's calls into chat rooms fail, as while a room restarts.
    const real = await runInDurableObject(hub, (h: TeamHub) => {
      const port = h as unknown as { rooms: RoomPort };
      const saved = port.rooms;
      port.rooms = { ...saved, applyAssignment: () => Promise.reject(new Error("room restarting")) };
      return saved;
    });
    let res: Response;
    try {
      res = await call(`/api/v1/teams/${f.teamId}/take`, { method: "POST", cookie: f.cookies.ann, json: { conversationId } });
    } finally {
      await runInDurableObject(hub, (h: TeamHub) => void ((h as unknown as { rooms: RoomPort }).rooms = real));
    }
    expect(res.status).toBe(503);
    expect(res.headers.get("content-type")).toContain("application/json");
    expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await res.json<any>()).error).toMatchObject({ code: "room_unavailable", message: expect.any(String) });
    expect((await runInDurableObject(roomStub(v.roomId), (r: ChatRoom) => r.store.current()!)).assignee_id).toBeNull();

    const again = await call(`/api/v1/teams/${f.teamId}/take`, { method: "POST", cookie: f.cookies.ann, json: { conversationId } });
    expect(again.status).toBe(200);
    await visitor.next(isEvent("assigned"));
  });

  it("an outsider is refused before the team's hub is woken: a hub that never ran stays empty", async () => {
    const teamId = await seedTeam("Nobody's hub", { businessHours: { enabled: true, timezone: "UTC", weekly: { "1": [{ start: "09:00", end: "17:00" }] }, holidays: [] } });
    const live = await call(`/api/v1/teams/${teamId}/live`, { cookie: f.cookies.otto });
    const presence = await call(`/api/v1/teams/${teamId}/presence`, { method: "POST", cookie: f.cookies.otto, json: { status: "online" } });
    expect([live.status, presence.status]).toEqual([403, 403]);
    expect((await live.json<any>()).error).toMatchObject({ code: "forbidden" });
    // Nothing loaded from D1, no business-hours timer set.
    const stored = await runInDurableObject(env.TEAM_HUB.get(env.TEAM_HUB.idFromName(teamId)), (_h: TeamHub, state) => ({
      members: state.storage.sql.exec("SELECT COUNT(*) AS n FROM members").one().n,
      meta: state.storage.sql.exec("SELECT COUNT(*) AS n FROM meta WHERE key <> 'schema'").one().n,
      timers: state.storage.sql.exec("SELECT COUNT(*) AS n FROM timers").one().n,
    }));
    expect(stored).toEqual({ members: 0, meta: 0, timers: 0 });
  });

  it("the OpenAPI document lists the team commands' 409 and 503 answers", async () => {
    const doc = await (await call("/api/v1/openapi.json")).json<any>();
    expect(Object.keys(doc.paths["/teams/{id}/take"].post.responses)).toEqual(expect.arrayContaining(["409", "503"]));
  });
});

describe("deleting a team", () => {
  it("is refused while a conversation transferred into it is not closed, and works once it is", async () => {
    const { v, agent } = await f.assignedConversation();
    agent.send({ type: "transfer", teamId: f.otherTeamId, note: "Billing question" });
    await agent.next(isEvent("transferred"));
    await hubsUpToDate(v.roomId);

    const refused = await call(`/api/v1/teams/${f.otherTeamId}`, { method: "DELETE", cookie: admin });
    expect(refused.status).toBe(409);
    expect((await refused.json<any>()).error).toMatchObject({ code: "conflict", message: expect.stringContaining("1 conversation") });
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM teams WHERE id = ?").bind(f.otherTeamId).first("n")).toBe(1);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM team_members WHERE team_id = ?").bind(f.otherTeamId).first("n")).toBe(1);

    const close = await call(`/api/v1/rooms/${encodeURIComponent(v.roomId)}/close`, { method: "POST", cookie: admin, json: { reason: "resolved" } });
    expect(close.status).toBe(200);
    await hubsUpToDate(v.roomId);
    const deleted = await call(`/api/v1/teams/${f.otherTeamId}`, { method: "DELETE", cookie: admin });
    expect(deleted.status).toBe(200);
    expect(await env.DB.prepare("SELECT COUNT(*) AS n FROM teams WHERE id = ?").bind(f.otherTeamId).first("n")).toBe(0);
  });
});

describe("deleting an inbox", () => {
  /** A visitor of a fresh inbox of the fixture's team who wrote once. */
  async function visitorOfNewInbox() {
    const inboxId = await seedInbox(f.teamId, "web");
    const session = await (await call(`/api/v1/widget/${inboxId}/session`, { method: "POST", json: {} })).json<any>();
    const visitor = await openSocket(`/ws/visitor?token=${encodeURIComponent(session.token)}`);
    await visitor.next((fr) => fr.type === "live");
    visitor.send({ type: "send", clientId: cid(), body: "Please keep this" });
    await visitor.next(isMessage("Please keep this"));
    return { inboxId, roomId: session.roomId as string, visitor };
  }
  const inboxCount = (id: string) => env.DB.prepare("SELECT COUNT(*) AS n FROM inboxes WHERE id = ?").bind(id).first("n");

  it("is refused while one of its conversations is not closed, before the archive has it too, and works once it is", async () => {
    const { inboxId, roomId, visitor } = await visitorOfNewInbox();
    await hubsUpToDate(roomId);
    const refused = await call(`/api/v1/inboxes/${inboxId}`, { method: "DELETE", cookie: admin });
    expect(refused.status).toBe(409);
    expect((await refused.json<any>()).error).toMatchObject({ code: "conflict", message: expect.stringContaining("1 conversation") });
    expect(await inboxCount(inboxId)).toBe(1);

    const close = await call(`/api/v1/rooms/${encodeURIComponent(roomId)}/close`, { method: "POST", cookie: admin, json: { reason: "resolved" } });
    expect(close.status).toBe(200);
    await hubsUpToDate(roomId);
    expect((await call(`/api/v1/inboxes/${inboxId}`, { method: "DELETE", cookie: admin })).status).toBe(200);
    expect(await inboxCount(inboxId)).toBe(0);
    await visitor.close();
  });

  it("a room whose inbox is gone all the same still archives what the customer wrote", async () => {
    const { inboxId, roomId, visitor } = await visitorOfNewInbox();
    // Gone before the room's first archive write (deleted in D1 by hand, or a race with the check).
    await env.DB.prepare("DELETE FROM inboxes WHERE id = ?").bind(inboxId).run();
    visitor.send({ type: "send", clientId: cid(), body: "And this one" });
    await visitor.next(isMessage("And this one"));
    await runInDurableObject(roomStub(roomId), (r: ChatRoom) => r.scheduleFlush(true));
    await runDurableObjectAlarm(roomStub(roomId));
    const archived = await env.DB.prepare("SELECT body FROM messages WHERE room_id = ? AND author_type = 'visitor' ORDER BY seq").bind(roomId).all<{ body: string }>();
    expect(archived.results.map((m) => m.body)).toEqual(["Please keep this", "And this one"]);
    expect(await runInDurableObject(roomStub(roomId), (_r: ChatRoom, state) => state.storage.sql.exec("SELECT COUNT(*) AS n FROM messages WHERE flushed <> 1").one().n)).toBe(0);
    await visitor.close();
  });
});
