// What the hub reads from and writes to D1: the team's settings and members
// (cached in hub storage, reloaded on change) and the notification bell.
import { parseTeamSettings, type TeamSettings } from "../settings";
import type { Member } from "./hub-store";

export interface HubNotification {
  kind: "mention" | "assigned" | "transfer";
  roomId: string;
  conversationId: string;
  body: string;
}

export interface StoredNotification extends HubNotification {
  id: string;
  agentId: string;
  createdAt: number;
}

const NOTIFICATION_BODY_LIMIT = 500;

export async function loadTeamSettings(db: D1Database, teamId: string): Promise<TeamSettings> {
  const row = await db.prepare("SELECT settings FROM teams WHERE id = ?").bind(teamId).first<{ settings: string }>();
  return parseTeamSettings(row?.settings);
}

/** Active members with their team role and capacity override. */
export async function loadMembers(db: D1Database, teamId: string): Promise<Member[]> {
  const { results } = await db
    .prepare(
      `SELECT a.id, a.name, a.role AS account_role, a.capacity, m.role AS team_role
       FROM team_members m JOIN agents a ON a.id = m.agent_id WHERE m.team_id = ? AND a.active = 1`,
    )
    .bind(teamId)
    .all<{ id: string; name: string; account_role: Member["accountRole"]; capacity: number | null; team_role: Member["teamRole"] }>();
  return results.map((r) => ({ id: r.id, name: r.name, teamRole: r.team_role, accountRole: r.account_role, capacity: r.capacity }));
}

/** One row per agent (deduplicated), in one batch. */
export async function recordNotifications(db: D1Database, agentIds: string[], n: HubNotification, createdAt: number): Promise<StoredNotification[]> {
  const body = n.body.slice(0, NOTIFICATION_BODY_LIMIT);
  const rows = [...new Set(agentIds)].map((agentId): StoredNotification => ({ ...n, body, id: crypto.randomUUID(), agentId, createdAt }));
  if (!rows.length) return rows;
  const insert = db.prepare("INSERT INTO notifications (id, agent_id, kind, room_id, conversation_id, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
  await db.batch(rows.map((r) => insert.bind(r.id, r.agentId, r.kind, r.roomId, r.conversationId, r.body, r.createdAt)));
  return rows;
}
