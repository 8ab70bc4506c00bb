// What a room needs to know about its inbox and team, read from D1 when a
// conversation starts (never per message) and kept in the room's meta.
import { type BotFlow, parseInboxSettings, parseTeamSettings } from "../settings";

export interface RoomSettings {
  inboxKind: string;
  windowSeconds: number;
  autoGreeting: string | null;
  inactivityTimeoutSeconds: number;
  pendingTimeoutSeconds: number;
  agentResponseTimeoutSeconds: number | null;
  visibility: "all" | "assigned";
  /** Web visitors' message budget (inbox setting); undefined in settings cached before it existed. */
  visitorMessagesPerMinute?: number;
  /** The inbox's menu bot while it is switched on; a new conversation starts with it. Undefined in settings cached before it existed. */
  bot?: BotFlow | null;
  /** The inbox's team when read: where the room's next conversation starts (an inbox can move). */
  inboxTeamId: string | null;
  loadedAt: number;
}

/** `teamId`: the team of the conversation under way; null reads the inbox's own team's settings. */
export async function loadRoomSettings(db: D1Database, inboxId: string, teamId: string | null): Promise<RoomSettings> {
  const [inbox, team] = await db.batch([
    db.prepare("SELECT kind, settings, team_id FROM inboxes WHERE id = ?").bind(inboxId),
    db.prepare("SELECT settings FROM teams WHERE id = COALESCE(?, (SELECT team_id FROM inboxes WHERE id = ?))").bind(teamId, inboxId),
  ]);
  const inboxRow = inbox.results[0] as { kind: string; settings: string; team_id: string } | undefined;
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
    visitorMessagesPerMinute: inboxSettings.visitorMessagesPerMinute,
    bot: inboxSettings.bot?.enabled ? inboxSettings.bot : null,
    inboxTeamId: inboxRow?.team_id ?? null,
    loadedAt: Date.now(),
  };
}
