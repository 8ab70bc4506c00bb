// What the header offers for a conversation, mirroring the room's checks
// (rooms/room-access.ts, conversation-flow.ts). The room still decides.
import type { Conversation } from "../protocol";

export interface ConversationPermissions {
  participant: boolean;
  assignee: boolean;
  join: boolean;
  leave: boolean;
  setPending: boolean;
  setOpen: boolean;
  close: boolean;
  reopen: boolean;
  markCritical: boolean;
  clearCritical: boolean;
  transfer: boolean;
  reply: boolean;
}

export function permissionsFor(c: Conversation, me: string, manages: boolean): ConversationPermissions {
  const participant = c.participants.some((p) => p.id === me);
  const assignee = c.assignee?.id === me;
  const closed = c.status === "closed";
  const canAct = manages || assignee || participant;
  return {
    participant,
    assignee,
    join: !closed && !participant,
    leave: !closed && participant,
    setPending: canAct && c.status === "open",
    setOpen: canAct && c.status === "pending",
    close: !closed && canAct,
    reopen: closed,
    markCritical: !c.critical && c.status === "open",
    clearCritical: c.critical,
    transfer: !closed && (assignee || manages),
    reply: !closed && canAct,
  };
}
