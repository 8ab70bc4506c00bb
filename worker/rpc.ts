// The calls between Durable Objects (Workers RPC). Rooms own conversations;
// the team hub owns assignment. Both sides check what they are told.
import type { AgentIdentity } from "./identity";
import type { ConversationSummary } from "./protocol";

export interface AgentRef {
  id: string;
  name: string;
}

export type AssignMode = "take" | "assign" | "transfer" | "auto";

export interface AssignRequest {
  conversationId: string;
  roomId: string;
  /** Who gets it. */
  agent: AgentRef;
  /** Who asked (null = the hub's own auto assignment). */
  by: AgentIdentity | null;
  mode: AssignMode;
  note?: string;
  /**
   * The team whose hub hands it over, set by that hub (never taken from a
   * room's request). The room refuses a hand-over from any other team's hub: a
   * conversation transferred away may still sit in its old team's queue.
   */
  teamId?: string;
  /**
   * The room's summary, indexed by the hub just before it checks the request,
   * in the same step: a reopened conversation the hub had dropped, taken by
   * the reopening agent before auto assignment could hand it to someone else.
   */
  summary?: ConversationSummary;
}

export type RpcResult = { ok: true } | { ok: false; code: string; message: string };

/**
 * The room's answer to an assignment carries its summary, so the hub indexes
 * it at once instead of waiting for a second RPC back from the room. A
 * refusal carries it too: the hub's view was out of date (a lost answer, a
 * transfer it missed), and the refusal is how it learns the truth.
 */
export type AssignResult = { ok: true; summary?: ConversationSummary } | { ok: false; code: string; message: string; summary?: ConversationSummary };

/** Where a room lives and who it belongs to; given to the room on first contact. */
export interface RoomAddress {
  roomId: string;
  inboxId: string;
  teamId: string;
  contactKey: string;
}

export const roomIdFor = (inboxId: string, contactKey: string) => `${inboxId}:${contactKey}`;

export type { ConversationSummary };
