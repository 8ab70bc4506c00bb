// Typed client for the Worker's JSON API (same origin, cookie session).
// Every failure becomes an ApiError carrying the house error shape.

export type Role = "admin" | "agent";
export type TeamRole = "manager" | "agent";
export interface Membership {
  teamId: string;
  role: TeamRole;
}

export interface CurrentAgent {
  id: string;
  email: string;
  name: string;
  role: Role;
  capacity: number | null;
  teams: Membership[];
}

export interface Page<T> {
  items: T[];
  total: number;
  page: number;
  perPage: number;
}

export type AssignmentMode = "auto" | "grab" | "manual";
export interface DayInterval {
  start: string;
  end: string;
}
export type Weekday = "0" | "1" | "2" | "3" | "4" | "5" | "6";
export interface BusinessHours {
  enabled: boolean;
  timezone: string;
  weekly: Partial<Record<Weekday, DayInterval[]>>;
  holidays: string[];
}
export interface TeamSettings {
  assignmentMode: AssignmentMode;
  defaultCapacity: number;
  visibility: "all" | "assigned";
  soonOverdueSeconds: number;
  overdueSeconds: number;
  inactivityTimeoutSeconds: number;
  pendingTimeoutSeconds: number;
  agentResponseTimeoutSeconds: number | null;
  awayGraceSeconds: number;
  businessHours: BusinessHours;
}
export interface Team {
  id: string;
  name: string;
  settings: TeamSettings;
  memberCount: number;
  createdAt: number;
  updatedAt: number;
}

export interface Agent extends CurrentAgent {
  active: boolean;
  invitePending: boolean;
  createdAt: number;
}
export interface AgentInput {
  email: string;
  name: string;
  role: Role;
  capacity: number | null;
  teams: Membership[];
}
export type AgentPatch = Partial<Omit<AgentInput, "email"> & { active: boolean }>;

export type InboxKind = "web" | "whatsapp" | "messenger" | "instagram" | "telegram" | "sms" | "x";
export interface InboxSettings {
  greeting?: string;
  autoGreeting?: string;
  windowSeconds?: number;
  color?: string;
  position?: "left" | "right";
  locale?: string;
  apiBaseUrl?: string;
  /** Web inboxes: messages a visitor may send per minute (default 120). */
  visitorMessagesPerMinute?: number;
  /** The menu bot new conversations start with while it is on. */
  bot?: BotFlow;
}
export interface BotFlow {
  enabled: boolean;
  greeting: string;
  options: { label: string; reply?: string; handover?: boolean }[];
  fallback?: string;
  giveUpAfter?: number;
  handoverMessage?: string;
  /** The hand-over message when nobody in the team can take a chat. */
  awayMessage?: string;
}
export interface Inbox {
  id: string;
  name: string;
  kind: InboxKind;
  teamId: string;
  settings: InboxSettings;
  credentialKeys: string[];
  webhookUrl: string | null;
  createdAt: number;
  updatedAt: number;
}
export interface InboxInput {
  name: string;
  kind: InboxKind;
  teamId: string;
  settings?: InboxSettings;
  credentials?: Record<string, string>;
}
export interface InboxPatch {
  name?: string;
  teamId?: string;
  /** Fields left out keep their stored values, the bot's too; `bot: null` removes it. */
  settings?: Omit<InboxSettings, "bot"> & { bot?: Partial<BotFlow> | null };
  /** A null value deletes that credential. */
  credentials?: Record<string, string | null>;
}

/** A closed conversation from the archive (GET /conversations?status=closed). */
export interface ArchivedConversation {
  id: string;
  roomId: string;
  inboxId: string;
  teamId: string;
  status: string;
  closeReason: string | null;
  title: string | null;
  tags: string[];
  flagged: boolean;
  assigneeId: string | null;
  startedAt: number;
  closedAt: number | null;
}

/** The upload endpoint's answer: an attachment ref (with its receipt) for a send frame. */
export interface UploadedAttachment {
  key: string;
  name: string;
  type: string;
  size: number;
  kind: "image" | "video" | "audio" | "document";
  receipt: string;
}

export class ApiError extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: Record<string, string>;
  /** Seconds from the Retry-After header (429), if any. */
  readonly retryAfter: number | null;

  constructor(status: number, code: string, message: string, fields: Record<string, string> = {}, retryAfter: number | null = null) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.retryAfter = retryAfter;
  }
}

let onUnauthorized: (() => void) | null = null;
/** Called when a signed-in call answers 401 (the session ended or expired). */
export function setUnauthorizedHandler(handler: () => void) {
  onUnauthorized = handler;
}
/** For callers that learn of an ended session another way (a socket refused at upgrade). */
export function reportUnauthorized() {
  onUnauthorized?.();
}

interface RequestOptions {
  body?: unknown;
  /** A file sent as the raw request body with its own Content-Type (uploads). */
  file?: Blob;
  /** Set false where 401 means "wrong password", not "signed out". */
  sessionRequired?: boolean;
}

function isErrorBody(v: unknown): v is { error: { code: string; message: string; fields?: Record<string, string> } } {
  const e = (v as { error?: { code?: unknown; message?: unknown } } | null)?.error;
  return typeof e?.code === "string" && typeof e.message === "string";
}

function requestInit(method: string, body: unknown, file: Blob | undefined): RequestInit {
  if (file) return { method, headers: { accept: "application/json", "content-type": file.type || "application/octet-stream" }, body: file };
  if (body === undefined) return { method, headers: { accept: "application/json" } };
  return { method, headers: { accept: "application/json", "content-type": "application/json" }, body: JSON.stringify(body) };
}

async function request<T>(method: string, path: string, { body, file, sessionRequired = true }: RequestOptions = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(`/api/v1${path}`, requestInit(method, body, file));
  } catch {
    throw new ApiError(0, "network", "Could not reach the server. Check your connection and try again.");
  }
  const data: unknown = await res.json().catch(() => null);
  if (res.ok) return data as T;

  if (res.status === 401 && sessionRequired) onUnauthorized?.();
  const retry = Number(res.headers.get("retry-after"));
  const retryAfter = Number.isFinite(retry) && retry > 0 ? retry : null;
  if (isErrorBody(data)) throw new ApiError(res.status, data.error.code, data.error.message, data.error.fields ?? {}, retryAfter);
  throw new ApiError(res.status, "http_" + res.status, `The server answered ${res.status}. Try again in a moment.`, {}, retryAfter);
}

const q = (params: Record<string, string | number>) => "?" + new URLSearchParams(Object.entries(params).map(([k, v]) => [k, String(v)]));
const id = (s: string) => encodeURIComponent(s);

export const api = {
  login: (email: string, password: string) => request<{ ok: true }>("POST", "/auth/login", { body: { email, password }, sessionRequired: false }),
  logout: () => request<{ ok: true }>("POST", "/auth/logout", { sessionRequired: false }),
  me: () => request<{ agent: CurrentAgent }>("GET", "/me", { sessionRequired: false }),
  setPassword: (token: string, password: string) =>
    request<{ ok: true }>("POST", "/auth/set-password", { body: { token, password }, sessionRequired: false }),
  changePassword: (currentPassword: string, password: string) =>
    request<{ ok: true }>("POST", "/me/password", { body: { currentPassword, password }, sessionRequired: false }),

  teams: (page = 1, perPage = 50) => request<Page<Team>>("GET", "/teams" + q({ page, perPage })),
  team: (teamId: string) => request<Team>("GET", `/teams/${id(teamId)}`),
  createTeam: (body: { name: string; settings?: Partial<TeamSettings> }) => request<Team>("POST", "/teams", { body }),
  updateTeam: (teamId: string, body: { name?: string; settings?: Partial<TeamSettings> }) => request<Team>("PATCH", `/teams/${id(teamId)}`, { body }),
  deleteTeam: (teamId: string) => request<{ ok: true }>("DELETE", `/teams/${id(teamId)}`),

  agents: (page = 1, perPage = 50) => request<Page<Agent>>("GET", "/agents" + q({ page, perPage })),
  createAgent: (body: AgentInput) => request<{ agent: Agent; inviteUrl: string }>("POST", "/agents", { body }),
  updateAgent: (agentId: string, body: AgentPatch) => request<Agent>("PATCH", `/agents/${id(agentId)}`, { body }),
  reinviteAgent: (agentId: string) => request<{ inviteUrl: string }>("POST", `/agents/${id(agentId)}/invite`),
  deleteAgent: (agentId: string) => request<{ ok: true }>("DELETE", `/agents/${id(agentId)}`),

  /** Only used to learn why a room socket is refused (the socket itself carries the room). */
  room: (roomId: string) => request<{ lastSeq: number }>("GET", `/rooms/${id(roomId)}` + q({ limit: 1 })),
  closedConversations: (page = 1, perPage = 50) =>
    request<Page<ArchivedConversation>>("GET", "/conversations" + q({ status: "closed", page, perPage })),
  uploadAttachment: (roomId: string, file: File) =>
    request<UploadedAttachment>("POST", `/rooms/${id(roomId)}/attachments` + q({ name: file.name || "pasted-image" }), { file }),
  attachmentUrl: (roomId: string, key: string) => request<{ url: string; expiresAt: number }>("POST", `/rooms/${id(roomId)}/attachments/url`, { body: { key } }),

  inboxes: (page = 1, perPage = 50) => request<Page<Inbox>>("GET", "/inboxes" + q({ page, perPage })),
  inbox: (inboxId: string) => request<Inbox>("GET", `/inboxes/${id(inboxId)}`),
  createInbox: (body: InboxInput) => request<Inbox>("POST", "/inboxes", { body }),
  updateInbox: (inboxId: string, body: InboxPatch) => request<Inbox>("PATCH", `/inboxes/${id(inboxId)}`, { body }),
  deleteInbox: (inboxId: string) => request<{ ok: true }>("DELETE", `/inboxes/${id(inboxId)}`),
};

/** Every team's id and name, for any signed-in agent (transfer pickers, team labels). */
export async function teamDirectory(): Promise<{ id: string; name: string }[]> {
  return (await request<{ items: { id: string; name: string }[] }>("GET", "/team-directory")).items;
}

/** Every team, for pickers (admins rarely have more than a few hundred). */
export async function allTeams(): Promise<Team[]> {
  const first = await api.teams(1, 200);
  const rest = [];
  for (let page = 2; (page - 1) * first.perPage < first.total; page++) rest.push(api.teams(page, 200));
  return [first, ...(await Promise.all(rest))].flatMap((p) => p.items);
}
