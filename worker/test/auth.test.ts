import { env } from "cloudflare:workers";
import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { call, cookieFrom, login, PASSWORD, seedAgent } from "./helpers";

/** Fixed-window limits: the clock stands still at the start of a window, so none rolls over mid-test. */
const atStartOfWindow = (windowMs: number) => vi.useFakeTimers({ toFake: ["Date"], now: Math.ceil(Date.now() / windowMs) * windowMs });

describe("sign-in", () => {
  beforeAll(async () => {
    await seedAgent({ email: "ada@example.com", role: "admin" });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("a correct password signs in with a secure, HttpOnly, SameSite=Lax session cookie", async () => {
    const res = await call("/api/v1/auth/login", { method: "POST", json: { email: "Ada@Example.com ", password: PASSWORD } });
    expect(res.status).toBe(200);
    const cookie = res.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^edgedesk_session=[\w-]{40,};/);
    expect(cookie).toMatch(/HttpOnly/i);
    expect(cookie).toMatch(/Secure/i);
    expect(cookie).toMatch(/SameSite=Lax/i);
    const me = await call("/api/v1/me", { cookie: cookieFrom(res) });
    expect(me.status).toBe(200);
    expect((await me.json<{ agent: { email: string; role: string } }>()).agent).toMatchObject({ email: "ada@example.com", role: "admin" });
  });

  it("the session token is not stored in clear in D1", async () => {
    const cookie = await login("ada@example.com");
    const token = cookie.split("=")[1];
    const row = await env.DB.prepare("SELECT COUNT(*) AS n FROM sessions WHERE id = ?").bind(token).first<{ n: number }>();
    expect(row!.n).toBe(0);
  });

  it("a wrong password or unknown email is refused with the same 401", async () => {
    const wrong = await call("/api/v1/auth/login", { method: "POST", json: { email: "ada@example.com", password: "nope" }, headers: { "cf-connecting-ip": "10.9.9.9" } });
    const unknown = await call("/api/v1/auth/login", { method: "POST", json: { email: "who@example.com", password: "nope" }, headers: { "cf-connecting-ip": "10.9.9.9" } });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(await wrong.json()).toEqual(await unknown.json());
    expect(wrong.headers.get("set-cookie")).toBeNull();
  });

  it("ten failures from one IP for one email are rate limited with Retry-After, even with the right password", async () => {
    const ip = "10.1.2.3";
    for (let i = 0; i < 10; i++) {
      const res = await call("/api/v1/auth/login", { method: "POST", json: { email: "ada@example.com", password: `bad-${i}` }, headers: { "cf-connecting-ip": ip } });
      expect(res.status).toBe(401);
    }
    const limited = await call("/api/v1/auth/login", { method: "POST", json: { email: "ada@example.com", password: PASSWORD }, headers: { "cf-connecting-ip": ip } });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await limited.json<{ error: { code: string } }>()).error.code).toBe("rate_limited");
    // Another IP is not affected.
    await expect(login("ada@example.com", PASSWORD, "10.1.2.4")).resolves.toContain("edgedesk_session=");
  });

  it("one IP trying many emails is rate limited after 30 failed sign-ins, even with the right password; its successful sign-ins do not count", async () => {
    atStartOfWindow(10 * 60 * 1000);
    const ip = "10.3.3.3";
    const attempt = (email: string, password: string) => call("/api/v1/auth/login", { method: "POST", json: { email, password }, headers: { "cf-connecting-ip": ip } });
    // An office behind one address: the agents' own sign-ins do not use up its attempts.
    for (let i = 0; i < 5; i++) expect((await attempt("ada@example.com", PASSWORD)).status).toBe(200);
    for (let i = 0; i < 30; i++) expect((await attempt(`guess-${i}@example.com`, "hunter2")).status, `attempt ${i + 1}`).toBe(401);
    const sessions = () => env.DB.prepare("SELECT COUNT(*) AS n FROM sessions").first<number>("n");
    const before = await sessions();
    const limited = await attempt("ada@example.com", PASSWORD);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await limited.json<{ error: { code: string; message: string } }>()).error).toMatchObject({ code: "rate_limited", message: expect.any(String) });
    expect(limited.headers.get("set-cookie")).toBeNull();
    expect(await sessions()).toBe(before);
    // Another IP is not affected.
    await expect(login("ada@example.com", PASSWORD, "10.3.3.4")).resolves.toContain("edgedesk_session=");
  });

  it("ten wrong current passwords in a password change are rate limited, and the right one then changes nothing", async () => {
    atStartOfWindow(10 * 60 * 1000);
    await seedAgent({ email: "kim@example.com" });
    const cookie = await login("kim@example.com");
    const change = (currentPassword: string) => call("/api/v1/me/password", { method: "POST", cookie, json: { currentPassword, password: "a brand new password" } });
    for (let i = 0; i < 10; i++) expect((await change(`wrong-${i}`)).status, `attempt ${i + 1}`).toBe(401);
    const limited = await change(PASSWORD);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    expect((await limited.json<{ error: { code: string } }>()).error.code).toBe("rate_limited");
    // The password and the session are as they were.
    expect((await call("/api/v1/me", { cookie })).status).toBe(200);
    await expect(login("kim@example.com", PASSWORD)).resolves.toContain("edgedesk_session=");
    const refused = await call("/api/v1/auth/login", { method: "POST", json: { email: "kim@example.com", password: "a brand new password" } });
    expect(refused.status).toBe(401);
  });

  it("logout ends the session on the server, not just in the browser", async () => {
    const cookie = await login("ada@example.com");
    expect((await call("/api/v1/me", { cookie })).status).toBe(200);
    const out = await call("/api/v1/auth/logout", { method: "POST", cookie });
    expect(out.status).toBe(200);
    expect(out.headers.get("set-cookie")).toMatch(/Max-Age=0/i);
    expect((await call("/api/v1/me", { cookie })).status).toBe(401);
  });

  it("changing the password ends every other session", async () => {
    await seedAgent({ email: "pat@example.com" });
    const laptop = await login("pat@example.com");
    const phone = await login("pat@example.com");
    const res = await call("/api/v1/me/password", { method: "POST", cookie: laptop, json: { currentPassword: PASSWORD, password: "a new long password" } });
    expect(res.status).toBe(200);
    expect((await call("/api/v1/me", { cookie: phone })).status).toBe(401);
    expect((await call("/api/v1/me", { cookie: cookieFrom(res) })).status).toBe(200);
    await expect(login("pat@example.com", "a new long password")).resolves.toContain("edgedesk_session=");
  });

  it("a state change with the session cookie from another origin is refused", async () => {
    const cookie = await login("ada@example.com");
    const res = await call("/api/v1/teams", { method: "POST", cookie, json: { name: "Evil" }, headers: { origin: "https://evil.example" } });
    expect(res.status).toBe(403);
    const none = await env.DB.prepare("SELECT COUNT(*) AS n FROM teams WHERE name = 'Evil'").first<{ n: number }>();
    expect(none!.n).toBe(0);
  });

  it("bad login input is a 400 with field messages, never a 500", async () => {
    const res = await call("/api/v1/auth/login", { method: "POST", json: { email: "not-an-email" } });
    expect(res.status).toBe(400);
    const body = await res.json<{ error: { code: string; fields: Record<string, string> } }>();
    expect(body.error.code).toBe("validation_failed");
    expect(Object.keys(body.error.fields)).toEqual(expect.arrayContaining(["email", "password"]));
    const garbage = await call("/api/v1/auth/login", { method: "POST", body: "{not json", headers: { "content-type": "application/json" } });
    expect(garbage.status).toBe(400);
  });

  it("an invite link sets a password once", async () => {
    const admin = await login("ada@example.com");
    const res = await call("/api/v1/agents", { method: "POST", cookie: admin, json: { email: "new@example.com", name: "New Agent" } });
    expect(res.status).toBe(201);
    const { inviteUrl, agent } = await res.json<{ inviteUrl: string; agent: { invitePending: boolean } }>();
    expect(agent.invitePending).toBe(true);
    const token = new URL(inviteUrl).hash.replace("#token=", "");
    const set = await call("/api/v1/auth/set-password", { method: "POST", json: { token, password: "my first password" } });
    expect(set.status).toBe(200);
    await expect(login("new@example.com", "my first password")).resolves.toContain("edgedesk_session=");
    const again = await call("/api/v1/auth/set-password", { method: "POST", json: { token, password: "another password!" } });
    expect(again.status).toBe(400);
    await expect(login("new@example.com", "my first password")).resolves.toContain("edgedesk_session=");
  });

  it("two uses of one invite link at once: exactly one sets the password, and it is that one's", async () => {
    const admin = await login("ada@example.com");
    const res = await call("/api/v1/agents", { method: "POST", cookie: admin, json: { email: "racer@example.com", name: "Racer" } });
    const token = new URL((await res.json<{ inviteUrl: string }>()).inviteUrl).hash.replace("#token=", "");
    const passwords = ["first racing password", "second racing password"];
    const results = await Promise.all(passwords.map((password) => call("/api/v1/auth/set-password", { method: "POST", json: { token, password } })));
    expect(results.map((r) => r.status).sort()).toEqual([200, 400]);
    const winner = passwords[results.findIndex((r) => r.status === 200)];
    const loser = passwords.find((p) => p !== winner)!;
    const attempt = (password: string) => call("/api/v1/auth/login", { method: "POST", json: { email: "racer@example.com", password } });
    expect((await attempt(winner)).status).toBe(200);
    expect((await attempt(loser)).status).toBe(401);
  });
});
