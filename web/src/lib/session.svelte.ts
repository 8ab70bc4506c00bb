// The signed-in agent, shared by every page behind login.
import { api, ApiError, type CurrentAgent } from "./api";

export const session = $state<{ agent: CurrentAgent | null; checked: boolean }>({ agent: null, checked: false });

/** Loads the agent behind the session cookie; null when signed out. */
export async function loadAgent(): Promise<CurrentAgent | null> {
  try {
    session.agent = (await api.me()).agent;
  } catch (err) {
    if (!(err instanceof ApiError && err.status === 401)) throw err;
    session.agent = null;
  }
  session.checked = true;
  return session.agent;
}

export async function signOut(): Promise<void> {
  try {
    await api.logout();
  } finally {
    session.agent = null;
  }
}

export const isAdmin = (agent: CurrentAgent | null) => agent?.role === "admin";

/** Admins manage every team; others only teams where they are a manager. */
export const managesTeam = (agent: CurrentAgent | null, teamId: string) =>
  isAdmin(agent) || !!agent?.teams.some((t) => t.teamId === teamId && t.role === "manager");

export const managesAnyTeam = (agent: CurrentAgent | null) => isAdmin(agent) || !!agent?.teams.some((t) => t.role === "manager");

/** Where to go after sign-in: only paths on this site, never another origin. */
export function safeNext(next: string | null): string {
  return next && next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}
