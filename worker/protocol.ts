// Every WebSocket frame, both ways, as zod schemas. The Worker validates with
// them; the desk and the widget import the same schemas and types.
// docs/protocol.md documents them with examples.
import { z } from "zod";

// ───────────────────────── shared shapes ─────────────────────────

export const CONVERSATION_STATUSES = ["bot", "queued", "open", "pending", "closed"] as const;
export type ConversationStatus = (typeof CONVERSATION_STATUSES)[number];
export const CLOSE_REASONS = ["resolved", "abandoned", "expired", "ticket"] as const;
export type CloseReason = (typeof CLOSE_REASONS)[number];
export const AGENT_STATUSES = ["online", "invisible", "break", "offline"] as const;
export type AgentStatus = (typeof AGENT_STATUSES)[number];
export const DELIVERY_STATUSES = ["pending", "sent", "delivered", "read", "failed"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** Delivery never moves backwards (providers deliver out of order); failed only replaces pending/sent. */
export function deliveryRank(s: DeliveryStatus | null | undefined): number {
  return s ? { pending: 0, sent: 1, failed: 2, delivered: 3, read: 4 }[s] : -1;
}

/** SPEC §3: 16 KB per message, counted in UTF-8 bytes (what the wire and the channels carry). */
export const TEXT_LIMIT = 16 * 1024;

/**
 * A string's length in UTF-8 bytes, without encoding it: an emoji is 4, an
 * accented letter 2. A lone surrogate counts 3, as the U+FFFD it is sent as.
 */
export function utf8Length(s: string): number {
  let bytes = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) bytes += 1;
    else if (c < 0x800) bytes += 2;
    else if (c >= 0xd800 && c <= 0xdbff && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
export const clientIdSchema = z.string().min(8).max(64).regex(/^[A-Za-z0-9_-]+$/, "clientId: letters, digits, - and _");

export const attachmentRefSchema = z.object({
  key: z.string().min(1).max(300),
  name: z.string().min(1).max(255),
  type: z.string().min(1).max(127),
  size: z.number().int().nonnegative(),
  /** HMAC from the upload endpoint: proves this room's upload produced this key. */
  receipt: z.string().min(16).max(128),
});
export type AttachmentRef = z.infer<typeof attachmentRefSchema>;

export const authorSchema = z.object({
  type: z.enum(["visitor", "agent", "bot", "system"]),
  id: z.string().nullable(),
  name: z.string().nullable(),
});
export type Author = z.infer<typeof authorSchema>;

export const messageKindSchema = z.enum(["text", "attachment", "note", "template", "event"]);
export type MessageKind = z.infer<typeof messageKindSchema>;

/** A stored room message as clients see it. */
export const messageSchema = z.object({
  seq: z.number().int().positive(),
  conversationId: z.string(),
  kind: messageKindSchema,
  author: authorSchema,
  clientId: z.string().nullable(),
  body: z.string(),
  /** Attachments, template parameters or event details. */
  data: z.record(z.string(), z.unknown()).nullable(),
  /** Agents-only items (notes, internal events) are never sent to visitors. */
  internal: z.boolean(),
  providerId: z.string().nullable(),
  deliveryStatus: z.enum(DELIVERY_STATUSES).nullable(),
  createdAt: z.number().int(),
});
export type RoomMessage = z.infer<typeof messageSchema>;

export const conversationSchema = z.object({
  id: z.string(),
  roomId: z.string(),
  inboxId: z.string(),
  teamId: z.string(),
  status: z.enum(CONVERSATION_STATUSES),
  closeReason: z.enum(CLOSE_REASONS).nullable(),
  closeComment: z.string().nullable(),
  title: z.string().nullable(),
  tags: z.array(z.string()),
  flagged: z.boolean(),
  critical: z.boolean(),
  criticalComment: z.string().nullable(),
  assignee: z.object({ id: z.string(), name: z.string() }).nullable(),
  participants: z.array(z.object({ id: z.string(), name: z.string() })),
  csat: z.object({ requested: z.boolean(), score: z.number().int().min(1).max(5).nullable(), comment: z.string().nullable() }),
  details: z.record(z.string(), z.string()),
  contact: z.object({ key: z.string(), name: z.string().nullable() }),
  startedAt: z.number().int(),
  closedAt: z.number().int().nullable(),
  mergedInto: z.string().nullable(),
});
export type Conversation = z.infer<typeof conversationSchema>;

// ───────────────────────── room: client → server ─────────────────────────

const TOO_LONG = `Messages are limited to ${TEXT_LIMIT / 1024} KB.`;
// Over the limit in characters is over it in bytes: only the `max` issue then, and the string is not walked.
const text = z.string().max(TEXT_LIMIT, TOO_LONG).refine((s) => s.length > TEXT_LIMIT || utf8Length(s) <= TEXT_LIMIT, TOO_LONG);

export const roomCommands = {
  send: z.object({
    type: z.literal("send"),
    clientId: clientIdSchema,
    kind: z.enum(["text", "note"]).default("text"),
    body: text.default(""),
    attachments: z.array(attachmentRefSchema).max(10).default([]),
    /** Agent ids to notify (notes only). */
    mentions: z.array(z.string().max(64)).max(20).default([]),
  }),
  typing: z.object({ type: z.literal("typing"), on: z.boolean() }),
  read: z.object({ type: z.literal("read"), seq: z.number().int().nonnegative() }),
  join: z.object({ type: z.literal("join") }),
  leave: z.object({ type: z.literal("leave") }),
  assign: z.object({ type: z.literal("assign"), agentId: z.string().min(1).max(64) }),
  transfer: z.object({
    type: z.literal("transfer"),
    agentId: z.string().min(1).max(64).optional(),
    teamId: z.string().min(1).max(64).optional(),
    note: z.string().max(2000).optional(),
  }),
  setStatus: z.object({ type: z.literal("setStatus"), status: z.enum(["open", "pending"]) }),
  close: z.object({
    type: z.literal("close"),
    reason: z.enum(["resolved", "abandoned", "ticket"]).default("resolved"),
    comment: z.string().max(2000).optional(),
    sendFeedback: z.boolean().default(false),
  }),
  reopen: z.object({ type: z.literal("reopen") }),
  flag: z.object({ type: z.literal("flag"), on: z.boolean() }),
  critical: z.object({ type: z.literal("critical"), on: z.boolean(), comment: z.string().max(2000).optional() }),
  rename: z.object({ type: z.literal("rename"), title: z.string().trim().max(200) }),
  tags: z.object({ type: z.literal("tags"), tags: z.array(z.string().trim().min(1).max(50)).max(30) }),
  merge: z.object({ type: z.literal("merge"), fromConversationId: z.string().min(1).max(64) }),
  csat: z.object({ type: z.literal("csat"), score: z.number().int().min(1).max(5), comment: z.string().max(2000).optional() }),
  history: z.object({ type: z.literal("history"), before: z.number().int().positive(), limit: z.number().int().min(1).max(200).default(50) }),
  /** Where the conversation stands in its team's queue, and whether any agent is available (the widget's offline form). */
  queue: z.object({ type: z.literal("queue") }),
};
export const roomClientFrame = z.discriminatedUnion("type", [
  roomCommands.send,
  roomCommands.typing,
  roomCommands.read,
  roomCommands.join,
  roomCommands.leave,
  roomCommands.assign,
  roomCommands.transfer,
  roomCommands.setStatus,
  roomCommands.close,
  roomCommands.reopen,
  roomCommands.flag,
  roomCommands.critical,
  roomCommands.rename,
  roomCommands.tags,
  roomCommands.merge,
  roomCommands.csat,
  roomCommands.history,
  roomCommands.queue,
]);
export type RoomClientFrame = z.infer<typeof roomClientFrame>;
export type RoomCommandType = RoomClientFrame["type"];

/** What a visitor socket may send; everything else is for agents. */
export const VISITOR_COMMANDS: ReadonlySet<RoomCommandType> = new Set(["send", "typing", "read", "csat", "history", "queue"]);

/**
 * A waiting customer's place in the team's queue (SPEC §6): `position` 1 is
 * next (null when not queued), the wait estimated from the pace at which the
 * team took chats from its queue lately (null without enough of it, or when
 * nobody is available), and whether any agent is available at all.
 */
export interface QueueStatus {
  position: number | null;
  estimatedWaitSeconds: number | null;
  agentsAvailable: boolean;
}

// ───────────────────────── room: server → client ─────────────────────────

export type RoomServerFrame =
  /** First frame after connect: the current state, then replay of what the client missed. */
  | { type: "welcome"; you: { kind: "agent" | "visitor"; id: string }; conversation: Conversation | null; lastSeq: number; reads: Record<string, number>; replayFrom: number; hasMore: boolean }
  | { type: "message"; message: RoomMessage }
  /** Between welcome and live: the messages the client missed, oldest first, in chunks (one frame per message would cost a frame's overhead each). */
  | { type: "replay"; messages: RoomMessage[] }
  /** End of the replay: live from here. */
  | { type: "live"; lastSeq: number }
  | { type: "conversation"; conversation: Conversation }
  | { type: "typing"; who: { kind: "agent" | "visitor"; id: string; name: string | null }; on: boolean }
  | { type: "read"; reader: string; seq: number }
  | { type: "delivery"; seq: number; status: DeliveryStatus; error?: string }
  | { type: "history"; messages: RoomMessage[]; hasMore: boolean }
  /** Answer to `queue`; visitors also get it unasked when it changes while their conversation waits. */
  | ({ type: "queue" } & QueueStatus)
  | { type: "error"; code: string; message: string; clientId?: string };

// ───────────────────────── team hub ─────────────────────────

/** The hub's index entry for a non-closed conversation: everything the desk lists need. */
export const conversationSummarySchema = z.object({
  id: z.string(),
  roomId: z.string(),
  inboxId: z.string(),
  teamId: z.string(),
  status: z.enum(CONVERSATION_STATUSES),
  assigneeId: z.string().nullable(),
  assigneeName: z.string().nullable(),
  participantIds: z.array(z.string()),
  title: z.string().nullable(),
  tags: z.array(z.string()),
  flagged: z.boolean(),
  critical: z.boolean(),
  contactName: z.string().nullable(),
  preview: z.string(),
  lastSeq: z.number().int(),
  /** Sequence of the customer's last message (for unread markers). */
  lastCustomerSeq: z.number().int(),
  /** When the customer started waiting for an agent reply; null when answered. */
  waitingSince: z.number().int().nullable(),
  /** The customer's last message (the "new customer activity" sort, SPEC §5); null before any. */
  lastCustomerAt: z.number().int().nullable(),
  /** Either side's last message or state change. */
  lastActivityAt: z.number().int(),
  startedAt: z.number().int(),
  /** Visitor has a socket open right now. */
  visitorOnline: z.boolean(),
  /** Agents mentioned in notes (their Tagged list) until the conversation closes. */
  mentioned: z.array(z.string()),
  /** Per-agent read pointers. */
  agentReads: z.record(z.string(), z.number().int()),
  /** Agent the room asked not to be reassigned to (agent-response timeout). */
  avoidAgentId: z.string().nullable(),
  /** Monotonic per room; the hub ignores a summary older than what it has. */
  version: z.number().int(),
});
export type ConversationSummary = z.infer<typeof conversationSummarySchema>;

export type WaitingMarker = "none" | "soon" | "overdue";

export const presenceSchema = z.object({
  agentId: z.string(),
  name: z.string(),
  role: z.enum(["manager", "agent"]),
  status: z.enum(AGENT_STATUSES),
  statusSince: z.number().int(),
  chatPanel: z.boolean(),
  connected: z.boolean(),
  /** Online and reachable: gets new chats. */
  available: z.boolean(),
  openChats: z.number().int(),
  capacity: z.number().int(),
});
export type Presence = z.infer<typeof presenceSchema>;

export const hubCommands = {
  status: z.object({ type: z.literal("status"), status: z.enum(AGENT_STATUSES) }),
  panel: z.object({ type: z.literal("panel"), on: z.boolean() }),
  /** Take a queued conversation (grab mode: accept the offer). */
  take: z.object({ type: z.literal("take"), conversationId: z.string().min(1).max(64) }),
  /** Managers: assign a conversation to an agent. */
  assign: z.object({ type: z.literal("assign"), conversationId: z.string().min(1).max(64), agentId: z.string().min(1).max(64) }),
};
export const hubClientFrame = z.discriminatedUnion("type", [hubCommands.status, hubCommands.panel, hubCommands.take, hubCommands.assign]);
export type HubClientFrame = z.infer<typeof hubClientFrame>;

export type HubServerFrame =
  | { type: "hello"; agent: { id: string; name: string; role: "manager" | "agent" | "admin" }; teamId: string; settings: Record<string, unknown>; now: number }
  | { type: "snapshot"; conversations: (ConversationSummary & { marker: WaitingMarker })[]; presence: Presence[] }
  | { type: "conversation"; conversation: ConversationSummary & { marker: WaitingMarker } }
  | { type: "removed"; conversationId: string }
  /** Several list deltas at once (the hub batches them while it hands out chats); apply like `conversation` and `removed` frames. */
  | { type: "changes"; conversations: (ConversationSummary & { marker: WaitingMarker })[]; removed: string[] }
  | { type: "presence"; presence: Presence }
  | { type: "offer"; conversation: ConversationSummary & { marker: WaitingMarker } }
  | { type: "offerWithdrawn"; conversationId: string; takenBy: string | null }
  | { type: "notification"; notification: { id: string; kind: "mention" | "assigned" | "transfer"; roomId: string; conversationId: string; body: string; createdAt: number } }
  | { type: "error"; code: string; message: string };

// ───────────────────────── desk lists (§5) ─────────────────────────

export const DESK_LISTS = ["live", "mine", "joined", "all", "pending", "flagged", "tagged"] as const;
export type DeskList = (typeof DESK_LISTS)[number];

/** Which of the live lists a conversation belongs to, for one agent. Shared by hub and desk. */
export function listsFor(c: ConversationSummary, agentId: string): DeskList[] {
  if (c.status === "closed") return [];
  const lists: DeskList[] = ["all"];
  if (c.status === "bot" || c.status === "queued") lists.push("live");
  if (c.assigneeId === agentId) lists.push("mine");
  if (c.participantIds.includes(agentId)) lists.push("joined");
  if (c.status === "pending") lists.push("pending");
  if (c.flagged) lists.push("flagged");
  if (c.mentioned.includes(agentId)) lists.push("tagged");
  return lists;
}

/** *Rep needed*: the customer wrote and no agent is in the room. */
export const repNeeded = (c: ConversationSummary) => c.waitingSince !== null && c.participantIds.length === 0;

export function waitingMarker(c: ConversationSummary, soonSeconds: number, overdueSeconds: number, now: number): WaitingMarker {
  if (c.waitingSince === null || c.status === "closed" || c.status === "pending") return "none";
  const waited = (now - c.waitingSince) / 1000;
  return waited >= overdueSeconds ? "overdue" : waited >= soonSeconds ? "soon" : "none";
}
