import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { call, login, seedAgent, seedTeam } from "./helpers";

type Json = Record<string, any>;
let admin: string;
let manager: string;
let agent: string;
let teamA: string;
let teamB: string;

beforeAll(async () => {
  teamA = await seedTeam("Alpha");
  teamB = await seedTeam("Bravo");
  await seedAgent({ email: "root@example.com", role: "admin" });
  await seedAgent({ email: "mia@example.com", teams: [{ teamId: teamA, role: "manager" }] });
  await seedAgent({ email: "ari@example.com", teams: [{ teamId: teamA, role: "agent" }] });
  [admin, manager, agent] = await Promise.all([login("root@example.com"), login("mia@example.com"), login("ari@example.com")]);
});

describe("role matrix", () => {
  it("an agent cannot use admin routes", async () => {
    for (const [path, json] of [
      ["/api/v1/teams", { name: "Nope" }],
      ["/api/v1/agents", { email: "x@example.com", name: "X" }],
      ["/api/v1/inboxes", { name: "Nope", kind: "web", teamId: teamA }],
    ] as const) {
      const res = await call(path, { method: "POST", cookie: agent, json });
      expect(res.status, path).toBe(403);
      expect((await res.json<Json>()).error.code).toBe("forbidden");
    }
    expect((await call(`/api/v1/teams/${teamA}`, { method: "PATCH", cookie: agent, json: { settings: { defaultCapacity: 9 } } })).status).toBe(403);
  });

  it("a manager edits their own team's settings but not another team's", async () => {
    const own = await call(`/api/v1/teams/${teamA}`, { method: "PATCH", cookie: manager, json: { settings: { assignmentMode: "grab", defaultCapacity: 7 } } });
    expect(own.status).toBe(200);
    expect((await own.json<Json>()).settings).toMatchObject({ assignmentMode: "grab", defaultCapacity: 7, overdueSeconds: 300 });
    const other = await call(`/api/v1/teams/${teamB}`, { method: "PATCH", cookie: manager, json: { settings: { defaultCapacity: 1 } } });
    expect(other.status).toBe(403);
    const readOther = await call(`/api/v1/teams/${teamB}`, { cookie: manager });
    expect(readOther.status).toBe(403);
  });

  it("a settings PATCH changes only the fields it names; the others keep their stored values", async () => {
    const first = await call(`/api/v1/teams/${teamA}`, { method: "PATCH", cookie: manager, json: { settings: { visibility: "assigned", assignmentMode: "manual", awayGraceSeconds: 60 } } });
    expect((await first.json<Json>()).settings).toMatchObject({ visibility: "assigned", assignmentMode: "manual", awayGraceSeconds: 60 });
    const second = await call(`/api/v1/teams/${teamA}`, { method: "PATCH", cookie: manager, json: { settings: { overdueSeconds: 600 } } });
    expect(second.status).toBe(200);
    const read = await (await call(`/api/v1/teams/${teamA}`, { cookie: manager })).json<Json>();
    expect(read.settings).toMatchObject({ visibility: "assigned", assignmentMode: "manual", awayGraceSeconds: 60, overdueSeconds: 600 });
    // Put it back for the other tests.
    await call(`/api/v1/teams/${teamA}`, { method: "PATCH", cookie: manager, json: { settings: { visibility: "all", assignmentMode: "auto", awayGraceSeconds: 120, overdueSeconds: 300 } } });

    const inbox = await (await call("/api/v1/inboxes", { method: "POST", cookie: admin, json: { name: "Patch test", kind: "web", teamId: teamA, settings: { windowSeconds: 7200, greeting: "Hi" } } })).json<Json>();
    await call(`/api/v1/inboxes/${inbox.id}`, { method: "PATCH", cookie: manager, json: { settings: { autoGreeting: "One moment" } } });
    const after = await (await call(`/api/v1/inboxes/${inbox.id}`, { cookie: admin })).json<Json>();
    expect(after.settings).toMatchObject({ windowSeconds: 7200, greeting: "Hi", autoGreeting: "One moment" });
  });

  it("a manager cannot rename a team or change an agent's role", async () => {
    expect((await call(`/api/v1/teams/${teamA}`, { method: "PATCH", cookie: manager, json: { name: "Renamed" } })).status).toBe(403);
    const ari = (await (await call("/api/v1/agents", { cookie: manager })).json<Json>()).items.find((a: Json) => a.email === "ari@example.com");
    expect((await call(`/api/v1/agents/${ari.id}`, { method: "PATCH", cookie: manager, json: { role: "admin" } })).status).toBe(403);
    expect((await call(`/api/v1/agents/${ari.id}`, { method: "PATCH", cookie: manager, json: { capacity: 3 } })).status).toBe(200);
  });

  it("non-admins only list their own teams and teammates", async () => {
    const teams = await (await call("/api/v1/teams", { cookie: agent })).json<Json>();
    expect(teams.items.map((t: Json) => t.name)).toEqual(["Alpha"]);
    const agents = await (await call("/api/v1/agents", { cookie: agent })).json<Json>();
    expect(agents.items.map((a: Json) => a.email).sort()).toEqual(["ari@example.com", "mia@example.com"]);
  });

  it("every admin route needs a session", async () => {
    for (const path of ["/api/v1/teams", "/api/v1/agents", "/api/v1/inboxes", "/api/v1/me"]) {
      const res = await call(path);
      expect(res.status, path).toBe(401);
      expect((await res.json<Json>()).error.code).toBe("unauthorized");
    }
  });
});

describe("admin API", () => {
  it("creates, lists with pagination, updates and deletes teams, with an audit trail", async () => {
    const created = await call("/api/v1/teams", { method: "POST", cookie: admin, json: { name: "Charlie", settings: { assignmentMode: "manual" } } });
    expect(created.status).toBe(201);
    const team = await created.json<Json>();
    expect(team.settings).toMatchObject({ assignmentMode: "manual", defaultCapacity: 5 });
    const page1 = await (await call("/api/v1/teams?perPage=2&page=1", { cookie: admin })).json<Json>();
    const page2 = await (await call("/api/v1/teams?perPage=2&page=2", { cookie: admin })).json<Json>();
    expect(page1.total).toBe(3);
    expect(page1.items).toHaveLength(2);
    expect(page2.items).toHaveLength(1);
    expect((await call("/api/v1/teams", { method: "POST", cookie: admin, json: { name: "charlie" } })).status).toBe(409);
    const renamed = await call(`/api/v1/teams/${team.id}`, { method: "PATCH", cookie: admin, json: { name: "Charlie 2" } });
    expect((await renamed.json<Json>()).name).toBe("Charlie 2");
    expect((await call(`/api/v1/teams/${team.id}`, { method: "DELETE", cookie: admin })).status).toBe(200);
    expect((await call(`/api/v1/teams/${team.id}`, { cookie: admin })).status).toBe(404);
    const { results } = await env.DB.prepare("SELECT action FROM audit_log WHERE target_id = ? ORDER BY id").bind(team.id).all<{ action: string }>();
    expect(results.map((r) => r.action)).toEqual(["team.create", "team.update", "team.delete"]);
  });

  it("validation errors name the field and change nothing", async () => {
    const before = await env.DB.prepare("SELECT COUNT(*) AS n FROM teams").first<{ n: number }>();
    const res = await call("/api/v1/teams", { method: "POST", cookie: admin, json: { name: "", settings: { assignmentMode: "lottery", overdueSeconds: -1 } } });
    expect(res.status).toBe(400);
    const { error } = await res.json<Json>();
    expect(error.code).toBe("validation_failed");
    expect(Object.keys(error.fields)).toEqual(expect.arrayContaining(["name", "settings.assignmentMode", "settings.overdueSeconds"]));
    const after = await env.DB.prepare("SELECT COUNT(*) AS n FROM teams").first<{ n: number }>();
    expect(after!.n).toBe(before!.n);
    const badInbox = await call("/api/v1/inboxes", { method: "POST", cookie: admin, json: { name: "X", kind: "gbm", teamId: teamA } });
    expect(badInbox.status).toBe(400);
    expect((await badInbox.json<Json>()).error.fields.kind).toBeTruthy();
    const unknownTeam = await call("/api/v1/inboxes", { method: "POST", cookie: admin, json: { name: "X", kind: "web", teamId: "nope" } });
    expect(unknownTeam.status).toBe(400);
  });

  it("a JSON body over 256 KB is refused with 413 before it is read, with or without its length; nothing is stored", async () => {
    const before = await env.DB.prepare("SELECT COUNT(*) AS n FROM teams").first<{ n: number }>();
    const huge = JSON.stringify({ name: "Huge", settings: { holidays: [] }, padding: "x".repeat(300 * 1024) });
    const declared = await call("/api/v1/teams", { method: "POST", cookie: admin, json: JSON.parse(huge) });
    const bytes = new TextEncoder().encode(huge);
    const streamed = await call("/api/v1/teams", {
      method: "POST",
      cookie: admin,
      headers: { "content-type": "application/json" },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < bytes.length; i += 16 * 1024) controller.enqueue(bytes.subarray(i, i + 16 * 1024));
          controller.close();
        },
      }),
    });
    for (const res of [declared, streamed]) {
      expect(res.status).toBe(413);
      expect((await res.json<Json>()).error).toMatchObject({ code: "too_large", message: expect.stringContaining("256 KB") });
    }
    expect((await env.DB.prepare("SELECT COUNT(*) AS n FROM teams").first<{ n: number }>())!.n).toBe(before!.n);
    // A body of an ordinary size goes through; the API document says which routes may answer 413.
    expect((await call("/api/v1/teams", { method: "POST", cookie: admin, json: { name: "Ordinary" } })).status).toBe(201);
    const doc = await (await call("/api/v1/openapi.json")).json<Json>();
    expect(Object.keys(doc.paths["/teams"].post.responses)).toContain("413");
  });

  it("inbox credentials are write-only: never returned, not in the audit log", async () => {
    const res = await call("/api/v1/inboxes", {
      method: "POST",
      cookie: admin,
      json: { name: "WhatsApp main", kind: "whatsapp", teamId: teamA, credentials: { appSecret: "super-secret-value", accessToken: "EAAB-token" } },
    });
    expect(res.status).toBe(201);
    const inbox = await res.json<Json>();
    expect(inbox.credentialKeys).toEqual(["accessToken", "appSecret"]);
    expect(inbox.webhookUrl).toBe(`https://desk.test/webhooks/whatsapp/${inbox.id}`);
    const patched = await call(`/api/v1/inboxes/${inbox.id}`, { method: "PATCH", cookie: admin, json: { credentials: { accessToken: null, verifyToken: "vt" } } });
    expect((await patched.json<Json>()).credentialKeys).toEqual(["appSecret", "verifyToken"]);
    const texts = [
      JSON.stringify(inbox),
      await (await call(`/api/v1/inboxes/${inbox.id}`, { cookie: admin })).text(),
      await (await call("/api/v1/inboxes", { cookie: admin })).text(),
      JSON.stringify((await env.DB.prepare("SELECT details FROM audit_log").all()).results),
    ];
    for (const text of texts) {
      expect(text).not.toContain("super-secret-value");
      expect(text).not.toContain("EAAB-token");
    }
    // A manager may tune settings but not touch credentials.
    expect((await call(`/api/v1/inboxes/${inbox.id}`, { method: "PATCH", cookie: manager, json: { credentials: { appSecret: "x" } } })).status).toBe(403);
    expect((await call(`/api/v1/inboxes/${inbox.id}`, { method: "PATCH", cookie: manager, json: { settings: { greeting: "Hello" } } })).status).toBe(200);
    // Nor where sends carrying them go: changing the API base URL is an admin's; resending it unchanged is fine.
    expect((await call(`/api/v1/inboxes/${inbox.id}`, { method: "PATCH", cookie: admin, json: { settings: { apiBaseUrl: "https://graph.example.com" } } })).status).toBe(200);
    const moved = await call(`/api/v1/inboxes/${inbox.id}`, { method: "PATCH", cookie: manager, json: { settings: { apiBaseUrl: "https://evil.example.net" } } });
    expect(moved.status).toBe(403);
    expect((await (await call(`/api/v1/inboxes/${inbox.id}`, { cookie: admin })).json<Json>()).settings.apiBaseUrl).toBe("https://graph.example.com");
    expect((await call(`/api/v1/inboxes/${inbox.id}`, { method: "PATCH", cookie: manager, json: { settings: { apiBaseUrl: "https://graph.example.com", greeting: "Hi" } } })).status).toBe(200);
  });

  it("the last admin cannot be demoted", async () => {
    const me = (await (await call("/api/v1/me", { cookie: admin })).json<Json>()).agent;
    const res = await call(`/api/v1/agents/${me.id}`, { method: "PATCH", cookie: admin, json: { role: "agent" } });
    expect(res.status).toBe(409);
  });

  it("unknown API routes are JSON 404s and the OpenAPI document lists the routes", async () => {
    const res = await call("/api/v1/nope");
    expect(res.status).toBe(404);
    expect((await res.json<Json>()).error.code).toBe("not_found");
    const doc = await (await call("/api/v1/openapi.json")).json<Json>();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/auth/login", "/teams", "/teams/{id}", "/agents", "/inboxes/{id}"]));
    expect(doc.paths["/teams"].post.requestBody.content["application/json"].schema).toBeTruthy();
  });
});

describe("a manager and agents' capacity", () => {
  const capacityOf = async (id: string) => (await env.DB.prepare("SELECT capacity FROM agents WHERE id = ?").bind(id).first<{ capacity: number | null }>())!.capacity;

  it("a manager sets the capacity of an agent only when every team of that agent is one they manage, as a plain agent", async () => {
    const plain = await seedAgent({ email: "pia@example.com", teams: [{ teamId: teamA, role: "agent" }] });
    const alsoInB = await seedAgent({ email: "bo@example.com", teams: [{ teamId: teamA, role: "agent" }, { teamId: teamB, role: "agent" }] });
    const fellowManager = await seedAgent({ email: "max@example.com", teams: [{ teamId: teamA, role: "manager" }] });
    const adminInA = await seedAgent({ email: "ada@example.com", role: "admin", teams: [{ teamId: teamA, role: "agent" }] });
    const noTeam = await seedAgent({ email: "nel@example.com" });
    const mia = (await (await call("/api/v1/me", { cookie: manager })).json<Json>()).agent.id as string;
    const patch = (id: string, json: Json) => call(`/api/v1/agents/${id}`, { method: "PATCH", cookie: manager, json });

    expect((await patch(plain, { capacity: 4 })).status).toBe(200);
    expect(await capacityOf(plain)).toBe(4);
    for (const [who, id] of [["in a team she does not manage", alsoInB], ["a fellow manager", fellowManager], ["an admin", adminInA], ["in no team", noTeam], ["herself", mia]] as const) {
      const res = await patch(id, { capacity: 9 });
      expect(res.status, who).toBe(403);
      expect((await res.json<Json>()).error.code, who).toBe("forbidden");
      expect(await capacityOf(id), who).toBeNull();
    }
    // Only capacity, even for an agent she may otherwise adjust.
    expect((await patch(plain, { capacity: 5, name: "Renamed" })).status).toBe(403);
    expect(await capacityOf(plain)).toBe(4);
    // Admins set anyone's.
    expect((await call(`/api/v1/agents/${alsoInB}`, { method: "PATCH", cookie: admin, json: { capacity: 2 } })).status).toBe(200);
    expect(await capacityOf(alsoInB)).toBe(2);
  });
});
