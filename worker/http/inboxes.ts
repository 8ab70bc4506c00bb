// Inboxes: one per channel account (a WhatsApp number, a widget, ...).
// Credentials are write-only: the API says which keys are set, never their values.
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { isAdmin, requireAdmin, requireManager, requireMember } from "../auth/access";
import { auditStatement } from "../db/audit";
import { botFlowPatch, INBOX_KINDS, inboxCredentialsSchema, inboxSettingsSchema, parseInboxSettings, settingsPatch } from "../settings";
import { type AppEnv, idParam, newRouter, pageQuery, route } from "./app";
import { badRequest, conflict, notFound, validationError } from "./errors";

const inboxBody = z.object({
  name: z.string().trim().min(1, "Name is required.").max(100),
  kind: z.enum(INBOX_KINDS, "Choose a channel kind."),
  teamId: z.string().min(1, "Choose a team.").max(64),
  settings: inboxSettingsSchema.partial().optional(),
  credentials: inboxCredentialsSchema.optional(),
});
const inboxPatch = z.object({
  name: z.string().trim().min(1, "Name is required.").max(100).optional(),
  teamId: z.string().min(1).max(64).optional(),
  /** Fields left out keep their stored values; so do the bot's (`bot: null` removes it). */
  settings: settingsPatch(inboxSettingsSchema).extend({ bot: botFlowPatch.nullable().optional() }).optional(),
  /** Keys given replace stored values; a null value deletes that credential. */
  credentials: z.record(z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]{0,63}$/), z.string().max(4096).nullable()).optional(),
});

interface InboxRow { id: string; name: string; kind: string; team_id: string; settings: string; credentials: string; created_at: number; updated_at: number }

function present(c: Context<AppEnv>, i: InboxRow) {
  const origin = new URL(c.req.url).origin;
  return {
    id: i.id,
    name: i.name,
    kind: i.kind,
    teamId: i.team_id,
    settings: parseInboxSettings(i.settings),
    credentialKeys: Object.keys(JSON.parse(i.credentials) as object).sort(),
    webhookUrl: i.kind === "web" ? null : `${origin}/webhooks/${i.kind}/${i.id}`,
    createdAt: i.created_at,
    updatedAt: i.updated_at,
  };
}

async function loadInbox(c: Context<AppEnv>, id: string): Promise<InboxRow> {
  const row = await c.env.DB.prepare("SELECT * FROM inboxes WHERE id = ?").bind(id).first<InboxRow>();
  if (!row) throw notFound("Inbox");
  return row;
}

async function assertTeam(c: Context<AppEnv>, teamId: string) {
  if (!(await c.env.DB.prepare("SELECT 1 FROM teams WHERE id = ?").bind(teamId).first())) {
    throw badRequest("That team does not exist.", { teamId: "Unknown team." });
  }
}

export const inboxRoutes = newRouter();

inboxRoutes.openapi(route({ method: "get", path: "/inboxes", summary: "List inboxes", tag: "inboxes", query: pageQuery }), async (c) => {
  const { page, perPage } = c.req.valid("query");
  const me = c.var.agent;
  const filter = isAdmin(me) ? "" : "WHERE team_id IN (SELECT team_id FROM team_members WHERE agent_id = ?1)";
  const binds = isAdmin(me) ? [] : [me.id];
  const [rows, total] = await c.env.DB.batch([
    c.env.DB.prepare(`SELECT * FROM inboxes ${filter} ORDER BY name COLLATE NOCASE, id LIMIT ${perPage} OFFSET ${(page - 1) * perPage}`).bind(...binds),
    c.env.DB.prepare(`SELECT COUNT(*) AS n FROM inboxes ${filter}`).bind(...binds),
  ]);
  return c.json({ items: (rows.results as unknown as InboxRow[]).map((r) => present(c, r)), total: (total.results[0] as { n: number }).n, page, perPage }, 200);
});

inboxRoutes.openapi(route({ method: "post", path: "/inboxes", summary: "Create an inbox", tag: "inboxes", body: inboxBody, status: 201 }), async (c) => {
  requireAdmin(c.var.agent);
  const body = c.req.valid("json");
  await assertTeam(c, body.teamId);
  const id = crypto.randomUUID();
  const settings = inboxSettingsSchema.parse(body.settings ?? {});
  await c.env.DB.batch([
    c.env.DB.prepare("INSERT INTO inboxes (id, name, kind, team_id, settings, credentials) VALUES (?, ?, ?, ?, ?, ?)").bind(
      id, body.name, body.kind, body.teamId, JSON.stringify(settings), JSON.stringify(body.credentials ?? {}),
    ),
    auditStatement(c, "inbox.create", "inbox", id, { name: body.name, kind: body.kind, teamId: body.teamId, credentialKeys: Object.keys(body.credentials ?? {}) }),
  ]);
  return c.json(present(c, await loadInbox(c, id)), 201);
});

inboxRoutes.openapi(route({ method: "get", path: "/inboxes/{id}", summary: "Get an inbox", tag: "inboxes", params: idParam }), async (c) => {
  const row = await loadInbox(c, c.req.valid("param").id);
  requireMember(c.var.agent, row.team_id);
  return c.json(present(c, row), 200);
});

inboxRoutes.openapi(
  route({ method: "patch", path: "/inboxes/{id}", summary: "Update an inbox", tag: "inboxes", params: idParam, body: inboxPatch }),
  async (c) => {
    const { id } = c.req.valid("param");
    const body = c.req.valid("json");
    const row = await loadInbox(c, id);
    requireManager(c.var.agent, row.team_id);
    // Moving an inbox between teams, touching credentials or where sends carrying them go is for admins.
    const movesApi = body.settings?.apiBaseUrl !== undefined && body.settings.apiBaseUrl !== parseInboxSettings(row.settings).apiBaseUrl;
    if ((body.teamId && body.teamId !== row.team_id) || body.credentials || movesApi) requireAdmin(c.var.agent);
    if (body.teamId) await assertTeam(c, body.teamId);
    const stored = parseInboxSettings(row.settings);
    const { bot: botChanges, ...changes } = body.settings ?? {};
    const bot = botChanges === null ? undefined : botChanges ? { ...stored.bot, ...botChanges } : stored.bot;
    const merged = inboxSettingsSchema.safeParse({ ...stored, ...changes, bot });
    if (!merged.success) throw validationError(merged.error, "settings");
    const settings = merged.data;
    const credentials = JSON.parse(row.credentials) as Record<string, string>;
    for (const [k, v] of Object.entries(body.credentials ?? {})) {
      if (v === null) delete credentials[k];
      else credentials[k] = v;
    }
    await c.env.DB.batch([
      c.env.DB.prepare("UPDATE inboxes SET name = ?, team_id = ?, settings = ?, credentials = ?, updated_at = ? WHERE id = ?").bind(
        body.name ?? row.name, body.teamId ?? row.team_id, JSON.stringify(settings), JSON.stringify(credentials), Date.now(), id,
      ),
      auditStatement(c, "inbox.update", "inbox", id, { name: body.name, teamId: body.teamId, settings: body.settings, credentialKeys: Object.keys(body.credentials ?? {}) }),
    ]);
    return c.json(present(c, await loadInbox(c, id)), 200);
  },
);

inboxRoutes.openapi(route({ method: "delete", path: "/inboxes/{id}", summary: "Delete an inbox", tag: "inboxes", params: idParam }), async (c) => {
  requireAdmin(c.var.agent);
  const { id } = c.req.valid("param");
  const row = await loadInbox(c, id);
  // A live conversation's room needs its inbox (settings, the archive's contact): close them first.
  // Its team's hub knows the newest at once (the archive a few seconds later); the archive knows
  // those transferred to other teams.
  const [live, archived] = await Promise.all([
    c.env.TEAM_HUB.get(c.env.TEAM_HUB.idFromName(row.team_id)).openConversationIds(id),
    c.env.DB.prepare("SELECT id FROM conversations WHERE inbox_id = ? AND status <> 'closed' AND merged_into IS NULL").bind(id).all<{ id: string }>(),
  ]);
  const open = new Set([...live, ...archived.results.map((r) => r.id)]).size;
  if (open) throw conflict(`This inbox still has ${open} conversation${open === 1 ? "" : "s"} that ${open === 1 ? "is" : "are"} not closed: close ${open === 1 ? "it" : "them"} first.`);
  await c.env.DB.batch([c.env.DB.prepare("DELETE FROM inboxes WHERE id = ?").bind(id), auditStatement(c, "inbox.delete", "inbox", id)]);
  return c.json({ ok: true }, 200);
});
