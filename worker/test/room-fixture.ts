// A team with a web inbox, agents signed in, and helpers to open visitor and
// agent sockets on its rooms. Each test file calls setupRoomFixture() once.
import { env } from "cloudflare:workers";
import { expect } from "vitest";
import { call, login, seedAgent, seedInbox, seedTeam } from "./helpers";
import { isEvent, isMessage, openSocket, type TestSocket } from "./ws";

export interface RoomFixture {
  teamId: string;
  otherTeamId: string;
  inboxId: string;
  ids: Record<"sam" | "ann" | "mia" | "otto", string>;
  cookies: Record<"sam" | "ann" | "mia" | "otto", string>;
  newVisitor(): Promise<{ token: string; roomId: string; contactKey: string }>;
  visitorSocket(token: string, after?: number): Promise<TestSocket>;
  agentSocket(cookie: string, roomId: string, after?: number): Promise<TestSocket>;
  /** A visitor who wrote once and Sam, who took the conversation. */
  assignedConversation(): Promise<{ v: { token: string; roomId: string }; visitor: TestSocket; agent: TestSocket }>;
  closeAll(): Promise<void>;
}

let n = 0;
export const cid = () => `client-${Date.now()}-${n++}`;
export const roomStub = (roomId: string) => env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(roomId));

export async function setupRoomFixture(teamSettings: Record<string, unknown> = {}, inboxSettings: Record<string, unknown> = {}): Promise<RoomFixture> {
  // Tests open many conversations as the same agents: room for all of them.
  const teamId = await seedTeam("Room team", { defaultCapacity: 100, ...teamSettings });
  const otherTeamId = await seedTeam("Other team");
  const inboxId = await seedInbox(teamId, "web", inboxSettings);
  const ids = {
    sam: await seedAgent({ email: "sam@room.test", name: "Sam", teams: [{ teamId, role: "agent" }] }),
    ann: await seedAgent({ email: "ann@room.test", name: "Ann", teams: [{ teamId, role: "agent" }] }),
    mia: await seedAgent({ email: "mia@room.test", name: "Mia", teams: [{ teamId, role: "manager" }] }),
    otto: await seedAgent({ email: "otto@room.test", name: "Otto", teams: [{ teamId: otherTeamId, role: "agent" }] }),
  };
  const cookies = {
    sam: await login("sam@room.test"),
    ann: await login("ann@room.test"),
    mia: await login("mia@room.test"),
    otto: await login("otto@room.test"),
  };
  const open: TestSocket[] = [];
  const f: RoomFixture = {
    teamId,
    otherTeamId,
    inboxId,
    ids,
    cookies,
    async newVisitor() {
      const res = await call(`/api/v1/widget/${inboxId}/session`, { method: "POST", json: {}, headers: { "cf-connecting-ip": `10.7.${n % 250}.${n++ % 250}` } });
      expect(res.status).toBe(200);
      return res.json();
    },
    async visitorSocket(token, after = 0) {
      const s = await openSocket(`/ws/visitor?token=${encodeURIComponent(token)}&after=${after}&page=${encodeURIComponent("https://shop.test/pricing")}`, {
        "user-agent": "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36",
        "accept-language": "de-DE,de;q=0.9",
      });
      open.push(s);
      await s.next((fr) => fr.type === "live");
      return s;
    },
    async agentSocket(cookie, roomId, after = 0) {
      const s = await openSocket(`/ws/room/${encodeURIComponent(roomId)}?after=${after}`, { cookie });
      open.push(s);
      await s.next((fr) => fr.type === "live");
      return s;
    },
    async assignedConversation() {
      const v = await f.newVisitor();
      const visitor = await f.visitorSocket(v.token);
      visitor.send({ type: "send", clientId: cid(), body: "Hello, I need help" });
      await visitor.next(isMessage("Hello, I need help"));
      const agent = await f.agentSocket(cookies.sam, v.roomId);
      agent.send({ type: "join" });
      await agent.next(isEvent("assigned"));
      return { v, visitor, agent };
    },
    async closeAll() {
      await Promise.all(open.splice(0).map((s) => s.close()));
    },
  };
  return f;
}
