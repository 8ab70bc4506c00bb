// The room's conversation as the team hub indexes it (protocol ConversationSummary).
import type { ConversationSummary } from "../protocol";
import type { ConversationRow, RoomStore } from "./room-store";

const PREVIEW = 140;

/** `version` is the room's push counter: reads and presence change without a row write. */
export function buildSummary(
  room: { store: RoomStore; visitorOnline(): boolean; address(): { roomId: string; inboxId: string } },
  row: ConversationRow,
  version: number,
): ConversationSummary {
  const address = room.address();
  const participants = room.store.participants(row.id);
  const reads = room.store.reads();
  const agentReads: Record<string, number> = {};
  for (const p of participants) if (reads[p.id] !== undefined) agentReads[p.id] = reads[p.id];
  const last = room.store.messagesBefore(room.store.lastSeq() + 1, 1, false)[0];
  return {
    id: row.id,
    roomId: address.roomId,
    inboxId: address.inboxId,
    teamId: row.team_id,
    status: row.status,
    assigneeId: row.assignee_id,
    assigneeName: row.assignee_name,
    participantIds: participants.map((p) => p.id),
    title: row.title,
    tags: JSON.parse(row.tags) as string[],
    flagged: !!row.flagged,
    critical: !!row.critical,
    contactName: room.store.getMeta<string>("contactName"),
    preview: last ? (last.kind === "attachment" && !last.body ? "📎 Attachment" : last.body.slice(0, PREVIEW)) : "",
    lastSeq: room.store.lastSeq(),
    lastCustomerSeq: row.last_customer_seq,
    waitingSince: row.waiting_since,
    lastActivityAt: row.last_activity_at,
    startedAt: row.started_at,
    visitorOnline: room.visitorOnline(),
    mentioned: JSON.parse(row.mentioned) as string[],
    agentReads,
    avoidAgentId: row.avoid_agent_id,
    version,
  };
}
