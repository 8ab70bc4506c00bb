// Teams: admins create and delete; managers edit their own team's settings;
// members read their teams.
import { z } from "@hono/zod-openapi";
import { isAdmin, requireAdmin, requireManager, requireMember } from "../auth/access";
import { auditStatement } from "../db/audit";
import { parseTeamSettings, teamSettingsPatch, teamSettingsSchema } from "../settings";
import { type AppEnv, idParam, newRouter, pageQuery, route } from "./app";
import { conflict, notFound } from "./errors";
import type { Context } from "hono";

const teamBody = z.object({
  name: z.string().trim().min(1, "Name is required.").max(100, "At most 100 characters."),
  settings: teamSettingsPatch.optional(),
});
const teamPatch = teamBody.partial();

interface TeamRow { id: string; name: string; settings: string; created_at: number; updated_at: number; members: number }
const present = (t: TeamRow) => ({
  id: t.id,
  name: t.name,
  settings: parseTeamSettings(t.settings),
  memberCount: t.members ?? 0,
  createdAt: t.created_at,
  updatedAt: t.updated_at,
});

const SELECT = `SELECT t.*, (SELECT COUNT(*) FROM team_members m WHERE m.team_id = t.id) AS members FROM teams t`;

export async function loadTeam(c: Context<AppEnv>, id: string): Promise<TeamRow> {
  const row = await c.env.DB.prepare(`${SELECT} WHERE t.id = ?`).bind(id).first<TeamRow>();
  if (!row) throw notFound("Team");
  return row;
}

export const teamRoutes = newRouter();

teamRoutes.openapi(route({ method: "get", path: "/teams", summary: "List teams", tag: "teams", query: pageQuery }), async (c) => {
  const { page, perPage } = c.req.valid("query");
  const agent = c.var.agent;
  // Non-admins see the teams they belong to.
  const filter = isAdmin(agent) ? "" : `WHERE t.id IN (SELECT team_id FROM team_members WHERE agent_id = ?1)`;
  const countFilter = isAdmin(agent) ? "" : `WHERE id IN (SELECT team_id FROM team_members WHERE agent_id = ?1)`;
  const binds = isAdmin(agent) ? [] : [agent.id];
  const [rows, total] = await c.env.DB.batch([
    c.env.DB.prepare(`${SELECT} ${filter} ORDER BY t.name COLLATE NOCASE, t.id LIMIT ${perPage} OFFSET ${(page - 1) * perPage}`).bind(...binds),
    c.env.DB.prepare(`SELECT COUNT(*) AS n FROM teams ${countFilter}`).bind(...binds),
  ]);
  return c.json({ items: (rows.results as unknown as TeamRow[]).map(present), total: (total.results[0] as { n: number }).n, page, perPage }, 200);
});

// Every agent may transfer a conversation to any team, so every agent may know the teams' names.
teamRoutes.openapi(route({ method: "get", path: "/team-directory", summary: "Names of all teams (for transfer pickers)", tag: "teams" }), async (c) => {
  const { results } = await c.env.DB.prepare("SELECT id, name FROM teams ORDER BY name COLLATE NOCASE, id").all<{ id: string; name: string }>();
  return c.json({ items: results }, 200);
});

teamRoutes.openapi(route({ method: "post", path: "/teams", summary: "Create a team", tag: "teams", body: teamBody, status: 201 }), async (c) => {
  requireAdmin(c.var.agent);
  const body = c.req.valid("json");
  const id = crypto.randomUUID();
  const settings = teamSettingsSchema.parse(body.settings ?? {});
  const dup = await c.env.DB.prepare("SELECT 1 FROM teams WHERE name = ? COLLATE NOCASE").bind(body.name).first();
  if (dup) throw conflict("A team with that name already exists.");
  await c.env.DB.batch([
    c.env.DB.prepare("INSERT INTO teams (id, name, settings) VALUES (?, ?, ?)").bind(id, body.name, JSON.stringify(settings)),
    auditStatement(c, "team.create", "team", id, { name: body.name }),
  ]);
  return c.json(present(await loadTeam(c, id)), 201);
});

teamRoutes.openapi(route({ method: "get", path: "/teams/{id}", summary: "Get a team", tag: "teams", params: idParam }), async (c) => {
  const { id } = c.req.valid("param");
  const team = await loadTeam(c, id);
  requireMember(c.var.agent, id);
  return c.json(present(team), 200);
});

teamRoutes.openapi(
  route({ method: "patch", path: "/teams/{id}", summary: "Update a team", tag: "teams", params: idParam, body: teamPatch }),
  async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const team = await loadTeam(c, id);
    requireManager(c.var.agent, id);
    // Renaming is an admin decision; managers tune how their team works.
    if (body.name !== undefined && body.name !== team.name) {
      requireAdmin(c.var.agent);
      const dup = await c.env.DB.prepare("SELECT 1 FROM teams WHERE name = ? COLLATE NOCASE AND id <> ?").bind(body.name, id).first();
      if (dup) throw conflict("A team with that name already exists.");
    }
    const settings = teamSettingsSchema.parse({ ...parseTeamSettings(team.settings), ...(body.settings ?? {}) });
    await c.env.DB.batch([
      c.env.DB.prepare("UPDATE teams SET name = ?, settings = ?, updated_at = ? WHERE id = ?").bind(body.name ?? team.name, JSON.stringify(settings), Date.now(), id),
      auditStatement(c, "team.update", "team", id, { name: body.name, settings: body.settings }),
    ]);
    // The hub caches settings; tell it they changed.
    await c.env.TEAM_HUB.get(c.env.TEAM_HUB.idFromName(id)).settingsChanged(settings);
    return c.json(present(await loadTeam(c, id)), 200);
  },
);

teamRoutes.openapi(route({ method: "delete", path: "/teams/{id}", summary: "Delete a team", tag: "teams", params: idParam }), async (c) => {
  requireAdmin(c.var.agent);
  const { id } = c.req.valid("param");
  await loadTeam(c, id);
  const inbox = await c.env.DB.prepare("SELECT 1 FROM inboxes WHERE team_id = ?").bind(id).first();
  if (inbox) throw conflict("Move or delete this team's inboxes first.");
  // Conversations transferred in keep this team after its inboxes are gone; its hub lists those not closed.
  const open = (await c.env.TEAM_HUB.get(c.env.TEAM_HUB.idFromName(id)).openConversationIds()).length;
  if (open) throw conflict(`This team still has ${open} conversation${open === 1 ? "" : "s"} that ${open === 1 ? "is" : "are"} not closed: close or transfer ${open === 1 ? "it" : "them"} first.`);
  await c.env.DB.batch([c.env.DB.prepare("DELETE FROM teams WHERE id = ?").bind(id), auditStatement(c, "team.delete", "team", id)]);
  return c.json({ ok: true }, 200);
});
