// Team hubs cache their members and keep desk sockets open for hours: what
// changes an account in D1 (role, teams, disabled, signed out) tells the hubs
// where that account may have a desk open (TeamHub.membersChanged), so they
// reload their members and close the desks that lost their rights or session.
import type { Env } from "../env";

/**
 * Tells each hub of `teamIds` that members changed. `changed`: whose account
 * changed; `admin`: it is or was an admin's, who may have a desk open in any
 * team, so every hub hears.
 */
export async function refreshHubs(env: Env, teamIds: (string | null)[], changed?: { agentId: string; admin: boolean }): Promise<void> {
  const all = changed?.admin ? (await env.DB.prepare("SELECT id FROM teams").all<{ id: string }>()).results.map((t) => t.id) : [];
  await Promise.all(
    [...new Set([...teamIds, ...all].filter((t): t is string => !!t))].map((id) =>
      env.TEAM_HUB.get(env.TEAM_HUB.idFromName(id)).membersChanged(changed ? [changed.agentId] : []),
    ),
  );
}

/**
 * Sessions of `agentId` ended (signed out, password changed or set): their
 * desk sockets opened with those sessions are closed at once by the hubs, and
 * by each room at the socket's next identity check (rooms/chat-room.ts).
 */
export async function sessionsEnded(env: Env, agentId: string): Promise<void> {
  const [agent, teams] = await env.DB.batch([
    env.DB.prepare("SELECT role FROM agents WHERE id = ?").bind(agentId),
    env.DB.prepare("SELECT team_id FROM team_members WHERE agent_id = ?").bind(agentId),
  ]);
  const role = (agent.results[0] as { role: string } | undefined)?.role;
  if (!role) return;
  await refreshHubs(env, (teams.results as { team_id: string }[]).map((t) => t.team_id), { agentId, admin: role === "admin" });
}
