// An account changes while its desk is open: the team hubs hear of it from the
// API and close what the account may no longer hold, admins' desks included
// (an admin opens any team's desk without being a member of it).
import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { call, cookieFrom, login, PASSWORD, seedAgent, seedTeam } from "./helpers";
import { openSocket, type TestSocket } from "./ws";

let teamId: string;
let root: string;
beforeAll(async () => {
  teamId = await seedTeam("Account changes");
  await seedAgent({ email: "root@accounts.test", role: "admin" });
  root = await login("root@accounts.test");
});

/** A desk on the team's hub, with the close code it ends with. */
async function desk(cookie: string): Promise<TestSocket & { closedWith: Promise<number> }> {
  const socket = await openSocket(`/ws/team/${teamId}`, { cookie });
  await socket.next((fr) => fr.type === "snapshot");
  const closedWith = new Promise<number>((resolve) => socket.ws.addEventListener("close", (e) => resolve(e.code)));
  return { ...socket, closedWith };
}

const within = <T>(p: Promise<T>, ms = 4000) => Promise.race([p, new Promise<never>((_, reject) => setTimeout(() => reject(new Error("still open")), ms))]);

describe("a desk whose account changes", () => {
  it("an admin's desk in a team they are not a member of closes when the account is disabled", async () => {
    const id = await seedAgent({ email: "ada@accounts.test", role: "admin" });
    const ada = await desk(await login("ada@accounts.test"));
    const res = await call(`/api/v1/agents/${id}`, { method: "PATCH", cookie: root, json: { active: false } });
    expect(res.status).toBe(200);
    expect(await within(ada.closedWith)).toBe(4003);
  });

  it("an admin's desk closes when the account is made an agent, so it reconnects with the rights it has now", async () => {
    const id = await seedAgent({ email: "bea@accounts.test", role: "admin" });
    const bea = await desk(await login("bea@accounts.test"));
    const res = await call(`/api/v1/agents/${id}`, { method: "PATCH", cookie: root, json: { role: "agent" } });
    expect(res.status).toBe(200);
    expect(await within(bea.closedWith)).toBe(4009);
    // Not a member of the team, and no longer an admin: the desk is refused at the door.
    expect(String(await openSocket(`/ws/team/${teamId}`, { cookie: await login("bea@accounts.test") }).catch((e: Error) => e))).toContain("403");
  });

  it("a desk whose account did not change stays open", async () => {
    const id = await seedAgent({ email: "cy@accounts.test", role: "admin" });
    const cy = await desk(await login("cy@accounts.test"));
    const res = await call(`/api/v1/agents/${id}`, { method: "PATCH", cookie: root, json: { name: "Cy Renamed" } });
    expect(res.status).toBe(200);
    cy.send({ type: "status", status: "online" }); // the hub still answers it (an admin has no presence: an error frame)
    await cy.next((fr) => fr.type === "error" || fr.type === "presence");
    expect(cy.ws.readyState).toBe(WebSocket.OPEN);
    await cy.close();
    expect((await env.DB.prepare("SELECT name FROM agents WHERE id = ?").bind(id).first<{ name: string }>())?.name).toBe("Cy Renamed");
  });
});

describe("a desk whose session ends", () => {
  it("signing out closes that browser's desks at once; the same agent's desk signed in elsewhere stays open", async () => {
    await seedAgent({ email: "dot@accounts.test", teams: [{ teamId, role: "agent" }] });
    const here = await login("dot@accounts.test", undefined, "10.1.1.1");
    const elsewhere = await login("dot@accounts.test", undefined, "10.1.1.2");
    const leaving = await desk(here);
    const staying = await desk(elsewhere);
    expect((await call("/api/v1/auth/logout", { method: "POST", cookie: here })).status).toBe(200);
    expect(await within(leaving.closedWith)).toBe(4001);
    staying.send({ type: "status", status: "break" });
    await staying.next((fr) => fr.type === "presence" && fr.presence.status === "break");
    expect(staying.ws.readyState).toBe(WebSocket.OPEN);
    await staying.close();
  });

  it("changing the password closes every desk opened with another session (a stolen cookie's too), and the new session opens one", async () => {
    await seedAgent({ email: "eve@accounts.test", teams: [{ teamId, role: "agent" }] });
    const stolen = await login("eve@accounts.test", undefined, "10.2.2.1");
    const mine = await login("eve@accounts.test", undefined, "10.2.2.2");
    const thief = await desk(stolen);
    const changed = await call("/api/v1/me/password", { method: "POST", cookie: mine, json: { currentPassword: PASSWORD, password: "a brand new password" } });
    expect(changed.status).toBe(200);
    expect(await within(thief.closedWith)).toBe(4001);
    expect(String(await openSocket(`/ws/team/${teamId}`, { cookie: stolen }).catch((e: Error) => e))).toContain("401");
    const again = await desk(cookieFrom(changed));
    await again.close();
  });
});
