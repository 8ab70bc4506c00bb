// What a room needs to know about its inbox and team, read from D1 when a
// conversation starts (never per message) and kept in the room's meta.
import { parseInboxSettings, parseTeamSettings } from "../settings";

export interface RoomSettings {
  inboxKind: string;
  windowSeconds: number;
  autoGreeting: string | null;
  inactivityTimeoutSeconds: number;
  pendingTimeoutSeconds: number;
  agentResponseTimeoutSeconds: number | null;
  visibility: "all" | "assigned";
  loadedAt: number;
}

export async function loadRoomSettings(db: D1Database, inboxId: string, teamId: string): Promise<RoomSettings> {
  const [inbox, team] = await db.batch([
    db.prepare("SELECT kind, settings FROM inboxes WHERE id = ?").bind(inboxId),
    db.prepare("SELECT settings FROM teams WHERE id = ?").bind(teamId),
  ]);
  const inboxRow = inbox.results[0] as { kind: string; settings: string } | undefined;
  const inboxSettings = parseInboxSettings(inboxRow?.settings);
  const teamSettings = parseTeamSettings((team.results[0] as { settings: string } | undefined)?.settings);
  return {
    inboxKind: inboxRow?.kind ?? "web",
    windowSeconds: inboxSettings.windowSeconds,
    autoGreeting: inboxSettings.autoGreeting ?? null,
    inactivityTimeoutSeconds: teamSettings.inactivityTimeoutSeconds,
    pendingTimeoutSeconds: teamSettings.pendingTimeoutSeconds,
    agentResponseTimeoutSeconds: teamSettings.agentResponseTimeoutSeconds,
    visibility: teamSettings.visibility,
    loadedAt: Date.now(),
  };
}
