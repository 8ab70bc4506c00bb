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
  // Every agent who read here (managers read without joining), not only participants.
  const { visitor: _visitor, ...agentReads } = room.store.reads();
  const last = room.store.lastConversationLine();
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
    lastCustomerAt: row.last_customer_at,
    lastActivityAt: row.last_activity_at,
    startedAt: row.started_at,
    visitorOnline: room.visitorOnline(),
    mentioned: JSON.parse(row.mentioned) as string[],
    agentReads,
    avoidAgentId: row.avoid_agent_id,
    version,
  };
}
