// Role checks (SPEC §1). Admins do everything; a team manager manages only the
// teams where their membership says "manager"; agents act within their teams.
import { forbidden } from "../http/errors";
import type { CurrentAgent } from "./session";

export const isAdmin = (agent: CurrentAgent) => agent.role === "admin";

export const isMemberOf = (agent: CurrentAgent, teamId: string) =>
  isAdmin(agent) || agent.teams.some((t) => t.teamId === teamId);

export const managesTeam = (agent: CurrentAgent, teamId: string) =>
  isAdmin(agent) || agent.teams.some((t) => t.teamId === teamId && t.role === "manager");

export function requireAdmin(agent: CurrentAgent): void {
  if (!isAdmin(agent)) throw forbidden("Only an admin can do that.");
}

export function requireMember(agent: CurrentAgent, teamId: string): void {
  if (!isMemberOf(agent, teamId)) throw forbidden("You are not a member of that team.");
}

export function requireManager(agent: CurrentAgent, teamId: string): void {
  if (!managesTeam(agent, teamId)) throw forbidden("Only an admin or a manager of that team can do that.");
}
