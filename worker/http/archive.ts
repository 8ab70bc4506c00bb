// The archive in D1: closed conversations (paged), one conversation with its
// messages, and full-text search over messages — limited to the caller's teams.
import { z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { isAdmin } from "../auth/access";
import type { CurrentAgent } from "../auth/session";
import { CONVERSATION_STATUSES } from "../protocol";
import { type AppEnv, newRouter, pageQuery, route } from "./app";
import { notFound } from "./errors";

const searchQuery = pageQuery.extend({ q: z.string().trim().min(1, "Type something to search for.").max(200) });
const listQuery = pageQuery.extend({
  status: z.enum(CONVERSATION_STATUSES).default("closed"),
  teamId: z.string().max(64).optional(),
  inboxId: z.string().max(64).optional(),
  assigneeId: z.string().max(64).optional(),
});
const conversationParam = z.object({ id: z.string().min(1).max(64).openapi({ param: { name: "id", in: "path" } }) });
const messagesQuery = z.object({ afterSeq: z.coerce.number().int().min(0).default(0), limit: z.coerce.number().int().min(1).max(500).default(200) });

/**
 * SQL filter + binds over a conversations table (`alias.` prefix, or none):
 * what the agent may read, as in the room (room-access canSee). Admins read
 * everything; a manager their teams'; an agent their teams' conversations,
 * except in a team whose visibility is "assigned", where only their own and
 * unassigned ones (the archive does not keep participants, so an agent who
 * only joined does not get it back here).
 */
function teamScope(agent: CurrentAgent, alias = ""): { sql: string; binds: string[] } {
  if (isAdmin(agent)) return { sql: "1 = 1", binds: [] };
  const col = (name: string) => `${alias ? `${alias}.` : ""}${name}`;
  const managed = agent.teams.filter((t) => t.role === "manager").map((t) => t.teamId);
  const member = agent.teams.filter((t) => t.role !== "manager").map((t) => t.teamId);
  const parts: string[] = [];
  const binds: string[] = [];
  if (managed.length) {
    parts.push(`${col("team_id")} IN (${managed.map(() => "?").join(",")})`);
    binds.push(...managed);
  }
  if (member.length) {
    parts.push(
      `(${col("team_id")} IN (${member.map(() => "?").join(",")}) AND (${col("assignee_id")} IS NULL OR ${col("assignee_id")} = ?
        OR COALESCE((SELECT json_extract(t.settings, '$.visibility') FROM teams t WHERE t.id = ${col("team_id")}), 'all') <> 'assigned'))`,
    );
    binds.push(...member, agent.id);
  }
  return parts.length ? { sql: `(${parts.join(" OR ")})`, binds } : { sql: "0 = 1", binds: [] };
}

/** User text → an FTS5 query of quoted prefix terms (no operators from the user). */
export function ftsQuery(q: string): string {
  const terms = q.match(/[\p{L}\p{N}_@.'-]+/gu) ?? [];
  return terms.slice(0, 12).map((t) => `"${t.replace(/"/g, '""')}"*`).join(" ");
}

export const archiveRoutes = newRouter();

archiveRoutes.openapi(route({ method: "get", path: "/search", summary: "Full-text search over archived messages", tag: "archive", query: searchQuery }), async (c) => {
  const { q, page, perPage } = c.req.valid("query");
  const match = ftsQuery(q);
  if (!match) return c.json({ items: [], total: 0, page, perPage }, 200);
  const scope = teamScope(c.var.agent, "c");
  const from = `FROM messages_fts JOIN messages m ON m.id = messages_fts.rowid JOIN conversations c ON c.id = m.conversation_id WHERE messages_fts MATCH ? AND ${scope.sql}`;
  const [rows, total] = await c.env.DB.batch([
    c.env.DB.prepare(
      `SELECT m.room_id AS roomId, m.conversation_id AS conversationId, m.seq, m.kind, m.author_type AS authorType, m.author_name AS authorName,
              m.created_at AS createdAt, snippet(messages_fts, 0, '[', ']', '…', 16) AS snippet,
              c.status, c.title, c.team_id AS teamId, c.inbox_id AS inboxId, c.closed_at AS closedAt
       ${from} ORDER BY m.created_at DESC LIMIT ${perPage} OFFSET ${(page - 1) * perPage}`,
    ).bind(match, ...scope.binds),
    c.env.DB.prepare(`SELECT COUNT(*) AS n ${from}`).bind(match, ...scope.binds),
  ]);
  return c.json({ items: rows.results, total: (total.results[0] as { n: number }).n, page, perPage }, 200);
});

archiveRoutes.openapi(route({ method: "get", path: "/conversations", summary: "Archived conversations (Closed list), newest first", tag: "archive", query: listQuery }), async (c) => {
  const { status, teamId, inboxId, assigneeId, page, perPage } = c.req.valid("query");
  const scope = teamScope(c.var.agent);
  const filters = [scope.sql, "status = ?", "merged_into IS NULL"];
  const binds: string[] = [...scope.binds, status];
  for (const [col, value] of [["team_id", teamId], ["inbox_id", inboxId], ["assignee_id", assigneeId]] as const) {
    if (value) {
      filters.push(`${col} = ?`);
      binds.push(value);
    }
  }
  const where = filters.join(" AND ");
  const [rows, total] = await c.env.DB.batch([
    c.env.DB.prepare(`SELECT * FROM conversations WHERE ${where} ORDER BY COALESCE(closed_at, updated_at) DESC LIMIT ${perPage} OFFSET ${(page - 1) * perPage}`).bind(...binds),
    c.env.DB.prepare(`SELECT COUNT(*) AS n FROM conversations WHERE ${where}`).bind(...binds),
  ]);
  return c.json({ items: (rows.results as Record<string, unknown>[]).map(presentConversation), total: (total.results[0] as { n: number }).n, page, perPage }, 200);
});

archiveRoutes.openapi(
  route({ method: "get", path: "/conversations/{id}", summary: "An archived conversation with its messages", tag: "archive", params: conversationParam, query: messagesQuery }),
  async (c) => {
    const { id } = c.req.valid("param");
    const { afterSeq, limit } = c.req.valid("query");
    const conv = await loadScoped(c, id);
    const { results } = await c.env.DB.prepare(
      "SELECT seq, kind, author_type, author_id, author_name, body, data, internal, delivery_status, created_at FROM messages WHERE conversation_id = ? AND seq > ? ORDER BY seq LIMIT ?",
    )
      .bind(id, afterSeq, limit)
      .all<Record<string, unknown>>();
    const messages = results.map((m) => ({
      seq: m.seq,
      kind: m.kind,
      author: { type: m.author_type, id: m.author_id, name: m.author_name },
      body: m.body,
      data: m.data ? JSON.parse(m.data as string) : null,
      internal: !!m.internal,
      deliveryStatus: m.delivery_status,
      createdAt: m.created_at,
    }));
    return c.json({ conversation: presentConversation(conv), messages, hasMore: messages.length === limit }, 200);
  },
);

async function loadScoped(c: Context<AppEnv>, id: string): Promise<Record<string, unknown>> {
  const scope = teamScope(c.var.agent);
  const conv = await c.env.DB.prepare(`SELECT * FROM conversations WHERE id = ? AND ${scope.sql}`).bind(id, ...scope.binds).first<Record<string, unknown>>();
  if (!conv) throw notFound("Conversation");
  return conv;
}

function presentConversation(r: Record<string, unknown>) {
  return {
    id: r.id,
    roomId: r.room_id,
    inboxId: r.inbox_id,
    teamId: r.team_id,
    contactId: r.contact_id,
    status: r.status,
    closeReason: r.close_reason,
    closeComment: r.close_comment,
    title: r.title,
    tags: JSON.parse((r.tags as string) ?? "[]"),
    flagged: !!r.flagged,
    critical: !!r.critical,
    assigneeId: r.assignee_id,
    csat: r.csat_score === null ? null : { score: r.csat_score, comment: r.csat_comment },
    details: JSON.parse((r.details as string) ?? "{}"),
    mergedInto: r.merged_into,
    firstResponseAt: r.first_response_at,
    startedAt: r.created_at,
    closedAt: r.closed_at,
  };
}
