// Agents: admins invite, edit and remove; managers adjust capacity within
// their teams; everyone can see their teammates (for transfers and mentions).
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { isAdmin, managesTeam, requireAdmin } from "../auth/access";
import { randomToken, sha256Hex } from "../auth/crypto";
import { auditStatement } from "../db/audit";
import { refreshHubs } from "../teams/hub-refresh";
import { type AppEnv, idParam, newRouter, pageQuery, route } from "./app";
import { badRequest, conflict, forbidden, notFound } from "./errors";

const INVITE_TTL_MS = 7 * 24 * 3600 * 1000;

const membership = z.object({ teamId: z.string().min(1).max(64), role: z.enum(["manager", "agent"]).default("agent") });
const agentBody = z.object({
  email: z.string().trim().toLowerCase().email("Enter a valid email address.").max(254),
  name: z.string().trim().min(1, "Name is required.").max(100),
  role: z.enum(["admin", "agent"]).default("agent"),
  capacity: z.number().int().min(1).max(100).nullable().optional(),
  teams: z.array(membership).max(50).default([]),
});
const agentPatch = z.object({
  name: z.string().trim().min(1, "Name is required.").max(100).optional(),
  role: z.enum(["admin", "agent"]).optional(),
  capacity: z.number().int().min(1).max(100).nullable().optional(),
  teams: z.array(membership).max(50).optional(),
  active: z.boolean().optional(),
});

interface AgentRow { id: string; email: string; name: string; role: string; capacity: number | null; active: number; password_hash: string | null; created_at: number; teams: string | null }
const present = (a: AgentRow) => ({
  id: a.id,
  email: a.email,
  name: a.name,
  role: a.role,
  capacity: a.capacity,
  active: !!a.active,
  invitePending: !a.password_hash,
  teams: (JSON.parse(a.teams ?? "[]") as { teamId: string | null; role: string }[]).filter((t) => t.teamId),
  createdAt: a.created_at,
});

const SELECT = `SELECT a.*, (SELECT json_group_array(json_object('teamId', m.team_id, 'role', m.role)) FROM team_members m WHERE m.agent_id = a.id) AS teams FROM agents a`;

async function loadAgent(c: Context<AppEnv>, id: string): Promise<AgentRow> {
  const row = await c.env.DB.prepare(`${SELECT} WHERE a.id = ?`).bind(id).first<AgentRow>();
  if (!row) throw notFound("Agent");
  return row;
}

async function assertTeamsExist(c: Context<AppEnv>, teams: { teamId: string }[]) {
  if (!teams.length) return;
  const ids = [...new Set(teams.map((t) => t.teamId))];
  const { results } = await c.env.DB.prepare(`SELECT id FROM teams WHERE id IN (${ids.map(() => "?").join(",")})`).bind(...ids).all<{ id: string }>();
  const missing = ids.filter((id) => !results.some((r) => r.id === id));
  if (missing.length) throw badRequest(`Unknown team: ${missing[0]}`, { teams: "Unknown team." });
}

function membershipStatements(c: Context<AppEnv>, agentId: string, teams: { teamId: string; role: string }[]) {
  return [
    c.env.DB.prepare("DELETE FROM team_members WHERE agent_id = ?").bind(agentId),
    ...teams.map((t) => c.env.DB.prepare("INSERT OR REPLACE INTO team_members (team_id, agent_id, role) VALUES (?, ?, ?)").bind(t.teamId, agentId, t.role)),
  ];
}

async function inviteStatement(c: Context<AppEnv>, agentId: string) {
  const token = randomToken();
  const url = `${new URL(c.req.url).origin}/set-password#token=${token}`;
  const stmt = c.env.DB.prepare("INSERT INTO password_tokens (id, agent_id, expires_at) VALUES (?, ?, ?)").bind(await sha256Hex(token), agentId, Date.now() + INVITE_TTL_MS);
  return { url, stmt };
}

async function adminCount(c: Context<AppEnv>): Promise<number> {
  const row = await c.env.DB.prepare("SELECT COUNT(*) AS n FROM agents WHERE role = 'admin' AND active = 1").first<{ n: number }>();
  return row?.n ?? 0;
}

export const agentRoutes = newRouter();

agentRoutes.openapi(route({ method: "get", path: "/agents", summary: "List agents", tag: "agents", query: pageQuery }), async (c) => {
  const { page, perPage } = c.req.valid("query");
  const me = c.var.agent;
  const filter = isAdmin(me)
    ? ""
    : `WHERE a.id IN (SELECT agent_id FROM team_members WHERE team_id IN (SELECT team_id FROM team_members WHERE agent_id = ?1)) OR a.id = ?1`;
  const binds = isAdmin(me) ? [] : [me.id];
  const [rows, total] = await c.env.DB.batch([
    c.env.DB.prepare(`${SELECT} ${filter} ORDER BY a.name COLLATE NOCASE, a.id LIMIT ${perPage} OFFSET ${(page - 1) * perPage}`).bind(...binds),
    c.env.DB.prepare(`SELECT COUNT(*) AS n FROM agents a ${filter}`).bind(...binds),
  ]);
  return c.json({ items: (rows.results as unknown as AgentRow[]).map(present), total: (total.results[0] as { n: number }).n, page, perPage }, 200);
});

agentRoutes.openapi(
  route({ method: "post", path: "/agents", summary: "Invite an agent (returns a one-time set-password link)", tag: "agents", body: agentBody, status: 201 }),
  async (c) => {
    requireAdmin(c.var.agent);
    const body = c.req.valid("json");
    if (await c.env.DB.prepare("SELECT 1 FROM agents WHERE email = ?").bind(body.email).first()) {
      throw conflict("An agent with that email already exists.");
    }
    await assertTeamsExist(c, body.teams);
    const id = crypto.randomUUID();
    const invite = await inviteStatement(c, id);
    await c.env.DB.batch([
      c.env.DB.prepare("INSERT INTO agents (id, email, name, role, capacity) VALUES (?, ?, ?, ?, ?)").bind(id, body.email, body.name, body.role, body.capacity ?? null),
      ...membershipStatements(c, id, body.teams),
      invite.stmt,
      auditStatement(c, "agent.invite", "agent", id, { email: body.email, role: body.role, teams: body.teams }),
    ]);
    await refreshHubs(c.env, body.teams.map((t) => t.teamId));
    return c.json({ agent: present(await loadAgent(c, id)), inviteUrl: invite.url }, 201);
  },
);

agentRoutes.openapi(route({ method: "get", path: "/agents/{id}", summary: "Get an agent", tag: "agents", params: idParam }), async (c) => {
  const { id } = c.req.valid("param");
  const row = await loadAgent(c, id);
  const me = c.var.agent;
  const shared = present(row).teams.some((t) => me.teams.some((m) => m.teamId === t.teamId));
  if (!isAdmin(me) && me.id !== id && !shared) throw notFound("Agent");
  return c.json(present(row), 200);
});

agentRoutes.openapi(
  route({ method: "patch", path: "/agents/{id}", summary: "Update an agent", tag: "agents", params: idParam, body: agentPatch }),
  async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const me = c.var.agent;
    const row = await loadAgent(c, id);
    const current = present(row);
    if (!isAdmin(me)) {
      // A manager may set capacity, nothing else. Capacity is account-wide, so only for a
      // plain agent whose every team is one they manage (not an admin, not a fellow manager,
      // not an agent shared with a team they do not manage).
      const onlyCapacity = Object.keys(body).every((k) => k === "capacity");
      const withinTheirTeams =
        current.role === "agent" && current.teams.length > 0 && current.teams.every((t) => t.role === "agent" && managesTeam(me, t.teamId as string));
      if (!onlyCapacity) throw forbidden("Only an admin can change that.");
      if (!withinTheirTeams) throw forbidden("A manager can change the capacity only of agents who work only in teams they manage.");
    }
    const losesAdmin = current.role === "admin" && current.active && (body.role === "agent" || body.active === false);
    if (losesAdmin && (await adminCount(c)) <= 1) throw conflict("Keep at least one active admin.");
    if (body.teams) await assertTeamsExist(c, body.teams);
    const stmts = [
      c.env.DB.prepare("UPDATE agents SET name = ?, role = ?, capacity = ?, active = ?, updated_at = ? WHERE id = ?").bind(
        body.name ?? row.name,
        body.role ?? row.role,
        body.capacity === undefined ? row.capacity : body.capacity,
        body.active === undefined ? row.active : body.active ? 1 : 0,
        Date.now(),
        id,
      ),
      ...(body.teams ? membershipStatements(c, id, body.teams) : []),
      // A disabled agent is signed out everywhere.
      ...(body.active === false ? [c.env.DB.prepare("DELETE FROM sessions WHERE agent_id = ?").bind(id)] : []),
      auditStatement(c, "agent.update", "agent", id, body),
    ];
    await c.env.DB.batch(stmts);
    await refreshHubs(c.env, [...current.teams.map((t) => t.teamId), ...(body.teams ?? []).map((t) => t.teamId)], { agentId: id, admin: current.role === "admin" });
    return c.json(present(await loadAgent(c, id)), 200);
  },
);

agentRoutes.openapi(
  route({ method: "post", path: "/agents/{id}/invite", summary: "Issue a new one-time set-password link", tag: "agents", params: idParam }),
  async (c) => {
    requireAdmin(c.var.agent);
    const { id } = c.req.valid("param");
    await loadAgent(c, id);
    const invite = await inviteStatement(c, id);
    await c.env.DB.batch([invite.stmt, auditStatement(c, "agent.reinvite", "agent", id)]);
    return c.json({ inviteUrl: invite.url }, 200);
  },
);

agentRoutes.openapi(route({ method: "delete", path: "/agents/{id}", summary: "Remove an agent", tag: "agents", params: idParam }), async (c) => {
  requireAdmin(c.var.agent);
  const { id } = c.req.valid("param");
  const row = await loadAgent(c, id);
  if (id === c.var.agent.id) throw conflict("You cannot remove yourself.");
  if (row.role === "admin" && (await adminCount(c)) <= 1) throw conflict("Keep at least one active admin.");
  await c.env.DB.batch([c.env.DB.prepare("DELETE FROM agents WHERE id = ?").bind(id), auditStatement(c, "agent.delete", "agent", id, { email: row.email })]);
  await refreshHubs(c.env, present(row).teams.map((t) => t.teamId), { agentId: id, admin: row.role === "admin" });
  return c.json({ ok: true }, 200);
});
