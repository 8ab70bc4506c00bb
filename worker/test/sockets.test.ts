import { exports } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { login, ORIGIN, seedAgent, seedTeam } from "./helpers";

let teamA: string;
let teamB: string;
let cookie: string;

beforeAll(async () => {
  teamA = await seedTeam("Sockets A");
  teamB = await seedTeam("Sockets B");
  await seedAgent({ email: "sam@example.com", name: "Sam", teams: [{ teamId: teamA, role: "agent" }] });
  cookie = await login("sam@example.com");
});

const upgrade = (path: string, headers: Record<string, string> = {}) =>
  exports.default.fetch(new Request(`${ORIGIN}${path}`, { headers: { upgrade: "websocket", ...headers } }));

function nextFrame(ws: WebSocket): Promise<any> {
  return new Promise((resolve) => ws.addEventListener("message", (e) => resolve(JSON.parse(e.data as string)), { once: true }));
}

describe("desk sockets", () => {
  it("an unauthenticated upgrade is refused with 401 and no socket", async () => {
    const res = await upgrade(`/ws/team/${teamA}`);
    expect(res.status).toBe(401);
    expect(res.webSocket).toBeNull();
  });

  it("a forged identity header does not authenticate", async () => {
    const forged = JSON.stringify({ kind: "agent", agentId: "x", name: "Mallory", role: "admin", teams: [] });
    const res = await upgrade(`/ws/team/${teamA}`, { "x-edgedesk-identity": forged });
    expect(res.status).toBe(401);
  });

  it("an agent reaches their team's hub as themselves, whatever identity header they send", async () => {
    const forged = JSON.stringify({ kind: "agent", agentId: "x", name: "Mallory", role: "admin", teams: [] });
    const res = await upgrade(`/ws/team/${teamA}`, { cookie, "x-edgedesk-identity": forged });
    expect(res.status).toBe(101);
    const ws = res.webSocket!;
    const first = nextFrame(ws);
    ws.accept();
    const hello = await first;
    expect(hello.type).toBe("hello");
    expect(hello.agent.name).toBe("Sam");
    ws.close();
  });

  it("a desk socket opened from another site is refused, even with the cookie", async () => {
    const res = await upgrade(`/ws/team/${teamA}`, { cookie, origin: "https://evil.example" });
    expect(res.status).toBe(403);
    expect(res.webSocket).toBeNull();
  });

  it("an agent cannot open another team's hub", async () => {
    const res = await upgrade(`/ws/team/${teamB}`, { cookie });
    expect(res.status).toBe(403);
  });

  it("a plain GET on a socket path asks for an upgrade", async () => {
    const res = await exports.default.fetch(new Request(`${ORIGIN}/ws/team/${teamA}`, { headers: { cookie } }));
    expect(res.status).toBe(426);
  });
});
