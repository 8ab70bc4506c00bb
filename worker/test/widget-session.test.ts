import { beforeAll, describe, expect, it } from "vitest";
import { signVisitorToken } from "../auth/visitor-token";
import { env } from "cloudflare:workers";
import { call, seedInbox, seedTeam } from "./helpers";

let web: string;
let otherWeb: string;
let whatsapp: string;

beforeAll(async () => {
  const team = await seedTeam("Widget team");
  web = await seedInbox(team, "web");
  otherWeb = await seedInbox(team, "web");
  whatsapp = await seedInbox(team, "whatsapp");
});

const session = (inboxId: string, json: unknown = {}, ip = "10.20.0.1") => call(`/api/v1/widget/${inboxId}/session`, { method: "POST", json, headers: { "cf-connecting-ip": ip } });

describe("visitor sessions", () => {
  it("a new visitor gets a token for their own room; presenting it again keeps the same contact", async () => {
    const first = await (await session(web)).json<any>();
    expect(first.roomId).toBe(`${web}:${first.contactKey}`);
    expect(first.resumed).toBe(false);
    const again = await (await session(web, { token: first.token })).json<any>();
    expect(again.contactKey).toBe(first.contactKey);
    expect(again.resumed).toBe(true);
  });

  it("a forged, expired or foreign token does not carry its contact over", async () => {
    const first = await (await session(web, {}, "10.20.0.2")).json<any>();
    const forged = first.token.replace(/.$/, (ch: string) => (ch === "A" ? "B" : "A"));
    const fromForged = await (await session(web, { token: forged }, "10.20.0.2")).json<any>();
    expect(fromForged.contactKey).not.toBe(first.contactKey);
    const foreign = await (await session(otherWeb, { token: first.token }, "10.20.0.2")).json<any>();
    expect(foreign.contactKey).not.toBe(first.contactKey);
    const expired = await signVisitorToken(env.VISITOR_TOKEN_SECRET, { inboxId: web, contactKey: first.contactKey, expiresAt: Date.now() - 1 });
    const fromExpired = await (await session(web, { token: expired }, "10.20.0.2")).json<any>();
    expect(fromExpired.contactKey).not.toBe(first.contactKey);
  });

  it("only web inboxes hand out sessions, and bad input is a 400", async () => {
    expect((await session(whatsapp)).status).toBe(404);
    expect((await session("no-such-inbox")).status).toBe(404);
    expect((await session(web, { token: 42 })).status).toBe(400);
  });

  it("sessions are rate limited per IP", async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 31; i++) statuses.push((await session(web, {}, "10.20.9.9")).status);
    expect(statuses.slice(0, 30).every((s) => s === 200)).toBe(true);
    const limited = await session(web, {}, "10.20.9.9");
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await session(web, {}, "10.20.9.10")).status).toBe(200);
  });
});
