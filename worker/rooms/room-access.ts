// Who may see and act in a room (SPEC §1). Checked for every socket and
// every frame, whatever the desk shows.
import type { AgentIdentity } from "../identity";
import { isTeamManager, isTeamMember } from "../identity";
import type { ConversationRow } from "./room-store";

/** May this agent open the room? `teamId` is the inbox's team when no conversation exists yet. */
export function canSee(
  who: AgentIdentity,
  conv: Pick<ConversationRow, "team_id" | "assignee_id"> | null,
  inboxTeamId: string,
  visibility: "all" | "assigned",
  participantIds: string[] = [],
): boolean {
  const teamId = conv?.team_id ?? inboxTeamId;
  if (!isTeamMember(who, teamId)) return false;
  if (isTeamManager(who, teamId) || visibility === "all" || !conv) return true;
  return conv.assignee_id === null || conv.assignee_id === who.agentId || participantIds.includes(who.agentId);
}

/** May this agent write to the customer, change status, close? Assignee, participants and managers. */
export function canActIn(who: AgentIdentity, conv: Pick<ConversationRow, "team_id" | "assignee_id">, participantIds: string[]): boolean {
  return isTeamManager(who, conv.team_id) || conv.assignee_id === who.agentId || participantIds.includes(who.agentId);
}
