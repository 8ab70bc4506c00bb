// A refused room command: sent back as an error frame on a socket, or as the
// matching HTTP status through the API.
export type RoomErrorCode =
  | "forbidden"
  | "not_found"
  | "conflict"
  | "conversation_closed"
  | "no_conversation"
  | "window_closed"
  | "invalid_attachment"
  | "duplicate_client_id"
  | "empty_message"
  | "agent_unavailable"
  | "invalid_frame"
  | "bad_json"
  | "too_large"
  | "rate_limited"
  | "unsupported";

const STATUS: Record<RoomErrorCode, 400 | 403 | 404 | 409 | 413 | 429> = {
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  conversation_closed: 409,
  no_conversation: 404,
  window_closed: 409,
  invalid_attachment: 400,
  duplicate_client_id: 409,
  empty_message: 400,
  agent_unavailable: 409,
  invalid_frame: 400,
  bad_json: 400,
  too_large: 413,
  rate_limited: 429,
  unsupported: 400,
};

export class RoomError extends Error {
  constructor(
    readonly code: RoomErrorCode,
    message: string,
    /** The refused `send`'s client id, so the sender knows which pending message failed. */
    readonly clientId?: string,
  ) {
    super(message);
  }
  get status() {
    return STATUS[this.code];
  }
}
