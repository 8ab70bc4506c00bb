// Test helpers: seed agents and teams straight into D1, and drive the API
// through the real Worker the way the desk does (cookie + Origin).
import { env, exports } from "cloudflare:workers";
import { hashPassword } from "../auth/password";

export const ORIGIN = "https://desk.test";
export const PASSWORD = "correct horse battery";

let hashed: string | undefined;
export async function seedAgent(opts: { email: string; name?: string; role?: "admin" | "agent"; teams?: { teamId: string; role: "manager" | "agent" }[] }) {
  hashed ??= await hashPassword(PASSWORD);
  const id = crypto.randomUUID();
  await env.DB.prepare("INSERT INTO agents (id, email, name, role, password_hash) VALUES (?, ?, ?, ?, ?)")
    .bind(id, opts.email, opts.name ?? opts.email.split("@")[0], opts.role ?? "agent", hashed)
    .run();
  for (const t of opts.teams ?? []) {
    await env.DB.prepare("INSERT INTO team_members (team_id, agent_id, role) VALUES (?, ?, ?)").bind(t.teamId, id, t.role).run();
  }
  return id;
}

export async function seedTeam(name: string, settings: Record<string, unknown> = {}) {
  const id = crypto.randomUUID();
  await env.DB.prepare("INSERT INTO teams (id, name, settings) VALUES (?, ?, ?)").bind(id, name, JSON.stringify(settings)).run();
  return id;
}

export async function seedInbox(teamId: string, kind = "web", settings: Record<string, unknown> = {}) {
  const id = crypto.randomUUID();
  await env.DB.prepare("INSERT INTO inboxes (id, name, kind, team_id, settings, credentials) VALUES (?, ?, ?, ?, ?, ?)")
    .bind(id, `${kind} inbox`, kind, teamId, JSON.stringify(settings), JSON.stringify({ secret: "s3cret-value" }))
    .run();
  return id;
}

export function call(path: string, init: RequestInit & { cookie?: string; json?: unknown } = {}) {
  const headers = new Headers(init.headers);
  if (init.cookie) headers.set("cookie", init.cookie);
  if (init.json !== undefined) headers.set("content-type", "application/json");
  if (init.method && init.method !== "GET" && !headers.has("origin")) headers.set("origin", ORIGIN);
  return exports.default.fetch(new Request(`${ORIGIN}${path}`, { ...init, headers, body: init.json !== undefined ? JSON.stringify(init.json) : init.body }));
}

/** Signs in and returns the cookie header value to send back. */
export async function login(email: string, password = PASSWORD, ip = "10.0.0.1"): Promise<string> {
  const res = await call("/api/v1/auth/login", { method: "POST", json: { email, password }, headers: { "cf-connecting-ip": ip } });
  if (res.status !== 200) throw new Error(`login failed: ${res.status} ${await res.text()}`);
  return cookieFrom(res);
}

export function cookieFrom(res: Response): string {
  const set = res.headers.get("set-cookie") ?? "";
  return set.split(";")[0];
}
