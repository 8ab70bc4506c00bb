import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { call } from "./helpers";
import { cid, type RoomFixture, setupRoomFixture } from "./room-fixture";
import { isMessage } from "./ws";

let f: RoomFixture;
beforeAll(async () => {
  f = await setupRoomFixture({ assignmentMode: "manual" });
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
