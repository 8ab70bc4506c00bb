// Who can take chats right now (SPEC §6): each member's status, chat panel,
// connection and load, read together at one moment so assignment decisions
// and the desk's presence badges agree.
import type { Presence } from "../protocol";
import type { TeamSettings } from "../settings";
import type { HubStore, Member, PresenceRow } from "./hub-store";

export interface AgentView {
  member: Member;
  presence: PresenceRow | null;
  openChats: number;
  capacity: number;
  /** Online, chat panel on, reachable, and the team is open: gets new chats. */
  available: boolean;
}

/** Managers and admins supervise: they join conversations rather than grab offers (SPEC §1). */
export const isManagerLike = (m: Member) => m.teamRole === "manager" || m.accountRole === "admin";

export const capacityOf = (m: Member, settings: TeamSettings) => m.capacity ?? settings.defaultCapacity;

/** Reachable is "has a socket or is within the grace period"; see TeamHub's away timer. */
export const isReachableOnline = (p: PresenceRow | null) => !!p && p.status === "online" && p.chatPanel && p.reachable;

export function agentViews(store: HubStore, settings: TeamSettings, teamOpen: boolean): Map<string, AgentView> {
  const loads = store.openChats();
  const presences = store.allPresence();
  const views = new Map<string, AgentView>();
  for (const member of store.members().values()) {
    const presence = presences.get(member.id) ?? null;
    views.set(member.id, {
      member,
      presence,
      openChats: loads.get(member.id) ?? 0,
      capacity: capacityOf(member, settings),
      available: teamOpen && isReachableOnline(presence),
    });
  }
  return views;
}

/** Could anyone take a new chat now? (A waiting customer's widget offers the offline form when not.) Without counting loads. */
export function anyoneAvailable(store: HubStore, teamOpen: boolean): boolean {
  if (!teamOpen) return false;
  const presences = store.allPresence();
  for (const member of store.members().values()) if (isReachableOnline(presences.get(member.id) ?? null)) return true;
  return false;
}

export function toPresence(v: AgentView): Presence {
  return {
    agentId: v.member.id,
    name: v.member.name,
    role: isManagerLike(v.member) ? "manager" : "agent",
    // A member who never opened the desk has no row yet: offline.
    status: v.presence?.status ?? "offline",
    statusSince: v.presence?.statusSince ?? 0,
    chatPanel: v.presence?.chatPanel ?? false,
    connected: v.presence?.reachable ?? false,
    available: v.available,
    openChats: v.openChats,
    capacity: v.capacity,
  };
}
