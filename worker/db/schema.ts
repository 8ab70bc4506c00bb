// D1 schema: everything that outlives one conversation or is queried across
// rooms and teams. Live state (messages of open conversations, presence, the
// queue) lives in the Durable Objects; see ARCHITECTURE.md.
import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

const now = sql`(unixepoch() * 1000)`;
const timestamps = {
  createdAt: integer("created_at").notNull().default(now),
  updatedAt: integer("updated_at").notNull().default(now),
};

/** People who sign in to the desk. `role` is account-wide; team roles live in team_members. */
export const agents = sqliteTable("agents", {
  id: text("id").primaryKey(),
  email: text("email").notNull().unique(),
  name: text("name").notNull(),
  role: text("role", { enum: ["admin", "agent"] }).notNull().default("agent"),
  passwordHash: text("password_hash"),
  /** Max simultaneous open chats; null = the team default. */
  capacity: integer("capacity"),
  active: integer("active", { mode: "boolean" }).notNull().default(true),
  ...timestamps,
});

export const sessions = sqliteTable(
  "sessions",
  {
    /** SHA-256 of the cookie token: a leaked table cannot be replayed as cookies. */
    id: text("id").primaryKey(),
    agentId: text("agent_id").notNull().references(() => agents.id, { onDelete: "cascade" }),
    createdAt: integer("created_at").notNull().default(now),
    expiresAt: integer("expires_at").notNull(),
    ip: text("ip"),
    userAgent: text("user_agent"),
  },
  (t) => [index("sessions_agent").on(t.agentId)],
);

/** One-time set-password links (invites and resets); the token is stored hashed. */
export const passwordTokens = sqliteTable("password_tokens", {
  id: text("id").primaryKey(),
  agentId: text("agent_id").notNull().references(() => agents.id, { onDelete: "cascade" }),
  expiresAt: integer("expires_at").notNull(),
  usedAt: integer("used_at"),
  createdAt: integer("created_at").notNull().default(now),
});

export const loginFailures = sqliteTable(
  "login_failures",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    /** ip + "|" + lowercased email */
    key: text("key").notNull(),
    at: integer("at").notNull(),
  },
  (t) => [index("login_failures_key_at").on(t.key, t.at)],
);

/** Fixed-window counters for public endpoints (visitor sessions, uploads). */
export const rateLimits = sqliteTable("rate_limits", {
  key: text("key").primaryKey(),
  windowStart: integer("window_start").notNull(),
  count: integer("count").notNull(),
});

export const teams = sqliteTable("teams", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  /** JSON TeamSettings (worker/http/schemas.ts): assignment mode, capacity, thresholds, timers, hours. */
  settings: text("settings").notNull().default("{}"),
  ...timestamps,
});

export const teamMembers = sqliteTable(
  "team_members",
  {
    teamId: text("team_id").notNull().references(() => teams.id, { onDelete: "cascade" }),
    agentId: text("agent_id").notNull().references(() => agents.id, { onDelete: "cascade" }),
    role: text("role", { enum: ["manager", "agent"] }).notNull().default("agent"),
  },
  (t) => [primaryKey({ columns: [t.teamId, t.agentId] }), index("team_members_agent").on(t.agentId)],
);

export const inboxes = sqliteTable(
  "inboxes",
  {
    id: text("id").primaryKey(),
    name: text("name").notNull(),
    kind: text("kind", { enum: ["web", "whatsapp", "messenger", "instagram", "telegram", "sms", "x"] }).notNull(),
    teamId: text("team_id").notNull().references(() => teams.id),
    settings: text("settings").notNull().default("{}"),
    /** Write-only provider secrets (JSON); never returned by the API. */
    credentials: text("credentials").notNull().default("{}"),
    ...timestamps,
  },
  (t) => [index("inboxes_team").on(t.teamId)],
);

export const contacts = sqliteTable("contacts", {
  id: text("id").primaryKey(),
  name: text("name"),
  email: text("email"),
  phone: text("phone"),
  tags: text("tags").notNull().default("[]"),
  notes: text("notes"),
  customFields: text("custom_fields").notNull().default("{}"),
  ...timestamps,
});

/** How a contact is known on one inbox (widget visitor key, WhatsApp id, PSID, ...). */
export const contactIdentities = sqliteTable(
  "contact_identities",
  {
    id: text("id").primaryKey(),
    contactId: text("contact_id").notNull().references(() => contacts.id, { onDelete: "cascade" }),
    inboxId: text("inbox_id").notNull().references(() => inboxes.id, { onDelete: "cascade" }),
    externalId: text("external_id").notNull(),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [uniqueIndex("contact_identities_inbox_external").on(t.inboxId, t.externalId)],
);

/** Conversation summaries flushed from rooms; the row stays after the room forgets. */
export const conversations = sqliteTable(
  "conversations",
  {
    id: text("id").primaryKey(),
    roomId: text("room_id").notNull(),
    inboxId: text("inbox_id").notNull(),
    teamId: text("team_id").notNull(),
    contactKey: text("contact_key").notNull(),
    contactId: text("contact_id"),
    status: text("status").notNull(),
    closeReason: text("close_reason"),
    closeComment: text("close_comment"),
    title: text("title"),
    tags: text("tags").notNull().default("[]"),
    flagged: integer("flagged", { mode: "boolean" }).notNull().default(false),
    critical: integer("critical", { mode: "boolean" }).notNull().default(false),
    assigneeId: text("assignee_id"),
    csatScore: integer("csat_score"),
    csatComment: text("csat_comment"),
    details: text("details").notNull().default("{}"),
    mergedInto: text("merged_into"),
    firstResponseAt: integer("first_response_at"),
    closedAt: integer("closed_at"),
    ...timestamps,
  },
  (t) => [
    index("conversations_room").on(t.roomId),
    index("conversations_team_status").on(t.teamId, t.status, t.updatedAt),
    index("conversations_contact").on(t.contactId),
  ],
);

export const messages = sqliteTable(
  "messages",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    roomId: text("room_id").notNull(),
    seq: integer("seq").notNull(),
    conversationId: text("conversation_id").notNull(),
    kind: text("kind").notNull(),
    authorType: text("author_type").notNull(),
    authorId: text("author_id"),
    authorName: text("author_name"),
    clientId: text("client_id"),
    body: text("body").notNull().default(""),
    /** JSON payload for attachments, template parameters and event data. */
    data: text("data"),
    /** Notes and internal events: agents only. */
    internal: integer("internal", { mode: "boolean" }).notNull().default(false),
    providerId: text("provider_id"),
    deliveryStatus: text("delivery_status"),
    createdAt: integer("created_at").notNull(),
  },
  (t) => [uniqueIndex("messages_room_seq").on(t.roomId, t.seq), index("messages_conversation").on(t.conversationId, t.seq)],
);

export const tickets = sqliteTable(
  "tickets",
  {
    id: text("id").primaryKey(),
    teamId: text("team_id").notNull(),
    inboxId: text("inbox_id").notNull(),
    contactId: text("contact_id"),
    conversationId: text("conversation_id"),
    status: text("status", { enum: ["open", "closed", "archived"] }).notNull().default("open"),
    assigneeId: text("assignee_id"),
    subject: text("subject"),
    closedBy: text("closed_by"),
    closedAt: integer("closed_at"),
    ...timestamps,
  },
  (t) => [index("tickets_team_status").on(t.teamId, t.status, t.createdAt), index("tickets_contact").on(t.contactId, t.status)],
);

export const quickReplies = sqliteTable("quick_replies", {
  id: text("id").primaryKey(),
  /** null = global */
  teamId: text("team_id"),
  shortcut: text("shortcut").notNull(),
  body: text("body").notNull(),
  media: text("media"),
  createdBy: text("created_by"),
  ...timestamps,
});

export const templates = sqliteTable("templates", {
  id: text("id").primaryKey(),
  inboxId: text("inbox_id").notNull().references(() => inboxes.id, { onDelete: "cascade" }),
  name: text("name").notNull(),
  language: text("language").notNull(),
  body: text("body").notNull(),
  ...timestamps,
});

export const notifications = sqliteTable(
  "notifications",
  {
    id: text("id").primaryKey(),
    agentId: text("agent_id").notNull(),
    kind: text("kind").notNull(),
    roomId: text("room_id"),
    conversationId: text("conversation_id"),
    body: text("body").notNull().default(""),
    readAt: integer("read_at"),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [index("notifications_agent").on(t.agentId, t.createdAt)],
);

export const auditLog = sqliteTable(
  "audit_log",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    actorId: text("actor_id"),
    action: text("action").notNull(),
    targetType: text("target_type").notNull(),
    targetId: text("target_id"),
    details: text("details").notNull().default("{}"),
    ip: text("ip"),
    createdAt: integer("created_at").notNull().default(now),
  },
  (t) => [index("audit_log_created").on(t.createdAt)],
);
