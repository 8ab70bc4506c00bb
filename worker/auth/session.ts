// Desk sessions: a random token in an HttpOnly cookie, its SHA-256 in D1.
import type { Context } from "hono";
import { deleteCookie, getCookie, setCookie } from "hono/cookie";
import type { Env } from "../env";
import type { AgentIdentity } from "../identity";
import { randomToken, sha256Hex } from "./crypto";

export const SESSION_COOKIE = "edgedesk_session";
const SESSION_TTL_MS = 14 * 24 * 3600 * 1000;

export interface CurrentAgent {
  id: string;
  email: string;
  name: string;
  role: "admin" | "agent";
  capacity: number | null;
  teams: { teamId: string; role: "manager" | "agent" }[];
}

export async function createSession<E extends { Bindings: Env }>(c: Context<E>, agentId: string): Promise<void> {
  const token = randomToken();
  const expiresAt = Date.now() + SESSION_TTL_MS;
  await c.env.DB.prepare("INSERT INTO sessions (id, agent_id, expires_at, ip, user_agent) VALUES (?, ?, ?, ?, ?)")
    .bind(await sha256Hex(token), agentId, expiresAt, clientIp(c.req.raw), c.req.header("user-agent")?.slice(0, 300) ?? null)
    .run();
  setCookie(c, SESSION_COOKIE, token, {
    httpOnly: true,
    secure: true,
    sameSite: "Lax",
    path: "/",
    maxAge: SESSION_TTL_MS / 1000,
  });
}

/** Signs this browser out; returns whose session it was (null: none), so their open desks can be closed. */
export async function endSession<E extends { Bindings: Env }>(c: Context<E>): Promise<string | null> {
  const token = getCookie(c, SESSION_COOKIE);
  const ended = token ? await c.env.DB.prepare("DELETE FROM sessions WHERE id = ? RETURNING agent_id").bind(await sha256Hex(token)).first<{ agent_id: string }>() : null;
  deleteCookie(c, SESSION_COOKIE, { path: "/", secure: true, httpOnly: true, sameSite: "Lax" });
  return ended?.agent_id ?? null;
}

export async function endAllSessions(env: Env, agentId: string): Promise<void> {
  await env.DB.prepare("DELETE FROM sessions WHERE agent_id = ?").bind(agentId).run();
}

/**
 * The session behind a token: its agent and the id it is stored under (the
 * token's hash, which desk sockets keep to notice when it ends; see
 * currentAccount). Null if the session is missing, expired or the agent disabled.
 */
export async function sessionFor(env: Env, token: string | undefined): Promise<{ agent: CurrentAgent; sessionId: string } | null> {
  if (!token || token.length > 200) return null;
  const id = await sha256Hex(token);
  const [agentRows, teamRows] = await env.DB.batch([
    env.DB.prepare(
      `SELECT a.id, a.email, a.name, a.role, a.capacity FROM sessions s JOIN agents a ON a.id = s.agent_id
       WHERE s.id = ? AND s.expires_at > ? AND a.active = 1`,
    ).bind(id, Date.now()),
    env.DB.prepare(
      `SELECT tm.team_id AS teamId, tm.role FROM sessions s JOIN team_members tm ON tm.agent_id = s.agent_id WHERE s.id = ?`,
    ).bind(id),
  ]);
  const agent = agentRows.results[0] as Omit<CurrentAgent, "teams"> | undefined;
  if (!agent) return null;
  return { agent: { ...agent, teams: teamRows.results as CurrentAgent["teams"] }, sessionId: id };
}

/** The agent behind a session token, or null if the session is missing, expired or the agent disabled. */
export async function agentForToken(env: Env, token: string | undefined): Promise<CurrentAgent | null> {
  return (await sessionFor(env, token))?.agent ?? null;
}

/**
 * An agent's account as it is now: their identity (role, teams) and the ids
 * of their sessions that have not ended (a desk socket opened with another
 * one was signed out). Null when the account is disabled or gone.
 */
export async function currentAccount(db: D1Database, agentId: string): Promise<{ identity: AgentIdentity; sessionIds: Set<string> } | null> {
  const [agentRows, teamRows, sessionRows] = await db.batch([
    db.prepare("SELECT id, name, role FROM agents WHERE id = ? AND active = 1").bind(agentId),
    db.prepare("SELECT team_id AS teamId, role FROM team_members WHERE agent_id = ?").bind(agentId),
    db.prepare("SELECT id FROM sessions WHERE agent_id = ? AND expires_at > ?").bind(agentId, Date.now()),
  ]);
  const agent = agentRows.results[0] as { id: string; name: string; role: AgentIdentity["role"] } | undefined;
  if (!agent) return null;
  return {
    identity: { kind: "agent", agentId: agent.id, name: agent.name, role: agent.role, teams: teamRows.results as AgentIdentity["teams"] },
    sessionIds: new Set((sessionRows.results as { id: string }[]).map((r) => r.id)),
  };
}

export function clientIp(req: Request): string {
  return req.headers.get("cf-connecting-ip") ?? "127.0.0.1";
}
