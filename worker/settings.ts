// Team and inbox settings: stored as JSON in D1, read by the Durable Objects.
// One schema gives the defaults, the validation and the types.
import { z } from "@hono/zod-openapi";
import { BOT_DEFAULTS } from "./bot-defaults";

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, "Use HH:MM (24 h).");
const dayHours = z.array(z.object({ start: hhmm, end: hhmm })).max(4);

export const businessHoursSchema = z.object({
  enabled: z.boolean().default(false),
  timezone: z.string().min(1).max(64).default("UTC"),
  /** 0 = Sunday … 6 = Saturday; an empty list is a closed day. */
  weekly: z.partialRecord(z.enum(["0", "1", "2", "3", "4", "5", "6"]), dayHours).default({}),
  holidays: z.array(z.string().regex(/^\d{4}-\d{2}-\d{2}$/, "Use YYYY-MM-DD.")).max(366).default([]),
});

const seconds = (min: number, max: number) => z.number().int().min(min).max(max);

export const teamSettingsSchema = z
  .object({
    assignmentMode: z.enum(["auto", "grab", "manual"]).default("auto"),
    defaultCapacity: seconds(1, 100).default(5),
    /** "all": agents see every team conversation; "assigned": only theirs and unassigned ones. */
    visibility: z.enum(["all", "assigned"]).default("all"),
    soonOverdueSeconds: seconds(10, 86400).default(180),
    overdueSeconds: seconds(10, 86400).default(300),
    inactivityTimeoutSeconds: seconds(60, 30 * 86400).default(86400),
    pendingTimeoutSeconds: seconds(60, 30 * 86400).default(172800),
    /** null = off */
    agentResponseTimeoutSeconds: seconds(30, 86400).nullable().default(null),
    awayGraceSeconds: seconds(10, 3600).default(120),
    businessHours: businessHoursSchema.default({ enabled: false, timezone: "UTC", weekly: {}, holidays: [] }),
  })
  .openapi("TeamSettings");
export type TeamSettings = z.infer<typeof teamSettingsSchema>;

/**
 * The PATCH form of a settings schema: every field optional and without its
 * default, so a field the caller leaves out keeps its stored value. (zod's
 * `.partial()` still fills in a field's default, which would silently reset,
 * say, a team's visibility when its manager changes a threshold.)
 */
export function settingsPatch<S extends z.ZodRawShape>(schema: z.ZodObject<S>) {
  const shape: Record<string, z.ZodType> = {};
  for (const [key, field] of Object.entries(schema.shape)) shape[key] = ((field instanceof z.ZodDefault ? field.unwrap() : field) as z.ZodType).optional();
  return z.object(shape) as unknown as ReturnType<z.ZodObject<S>["partial"]>;
}

export const teamSettingsPatch = settingsPatch(teamSettingsSchema);

export const INBOX_KINDS = ["web", "whatsapp", "messenger", "instagram", "telegram", "sms", "x"] as const;
export type InboxKind = (typeof INBOX_KINDS)[number];

/** What may close a customer's choice without changing it ("Billing!", "2."); spaces are already single. */
const CLOSING = new Set([" ", ".", "!", "?", ",", ";", ":"]);

/**
 * How the bot compares what a customer wrote with an option's name: case,
 * spacing and closing punctuation aside. The closing run is cut in a loop, not
 * with a `[…]+$` pattern, which backtracks quadratically on a long run of dots
 * followed by a letter (a 16 KB message held the room for about 0.5 s).
 */
export function botOptionKey(s: string): string {
  const text = s.toLowerCase().replace(/\s+/g, " ");
  let end = text.length;
  while (end > 0 && CLOSING.has(text[end - 1])) end--;
  return text.slice(0, end).trim();
}

const botOptionSchema = z
  .object({
    label: z.string().trim().min(1, "Give the option a name.").max(80),
    /** What the bot answers when the customer picks this option. */
    reply: z.string().trim().max(2000).optional(),
    /** Picking this option hands the conversation to the team's queue (after the reply, if any). */
    handover: z.boolean().default(false),
  })
  .refine((o) => o.handover || !!o.reply, { message: "Give the bot an answer here, or let it hand over to a person (or both).", path: ["reply"] });

const botFlowFields = z.object({
  enabled: z.boolean().default(false),
  greeting: z.string().trim().max(2000).default(""),
  options: z.array(botOptionSchema).max(9, "At most 9 options.").default([]),
  fallback: z.string().trim().min(1).max(2000).default(BOT_DEFAULTS.fallback),
  /** Answers in a row the bot does not understand before it hands over. */
  giveUpAfter: z.number().int().min(1).max(10).default(BOT_DEFAULTS.giveUpAfter),
  handoverMessage: z.string().trim().min(1).max(2000).default(BOT_DEFAULTS.handoverMessage),
  /** The hand-over message when nobody in the team can take a chat (outside business hours, nobody online). */
  awayMessage: z.string().trim().min(1).max(2000).default(BOT_DEFAULTS.awayMessage),
});

/**
 * The inbox's bot flow (SPEC §2): a new conversation starts with the bot,
 * which greets the customer with a numbered menu; an option answers or hands
 * over to the team's queue; after `giveUpAfter` answers in a row it does not
 * understand, it hands over too. An agent entering the chat ends it. A bot
 * that is off may be incomplete (it is kept for later); one that is on needs
 * a greeting and a way to a person.
 */
export const botFlowSchema = botFlowFields
  .superRefine((b, ctx) => {
    const labels = b.options.map((o) => botOptionKey(o.label));
    labels.forEach((label, i) => {
      const path = ["options", i, "label"];
      if (!label) ctx.addIssue({ code: "custom", path, message: "Give the option a name with letters or digits." });
      else if (/^\d+$/.test(label)) ctx.addIssue({ code: "custom", path, message: "A name that is only a number would be read as that option's number." });
      else if (labels.indexOf(label) !== i) ctx.addIssue({ code: "custom", path, message: "Another option has this name: the customer could not pick this one by name." });
    });
    if (!b.enabled) return;
    if (!b.greeting) ctx.addIssue({ code: "custom", path: ["greeting"], message: "A bot that is on needs a greeting." });
    if (!b.options.some((o) => o.handover)) ctx.addIssue({ code: "custom", path: ["options"], message: "At least one option must hand over to a person." });
  })
  .openapi("BotFlow");
/** PATCH: the fields given replace the stored bot's, the rest stay (see settingsPatch). */
export const botFlowPatch = settingsPatch(botFlowFields);
export type BotFlow = z.infer<typeof botFlowSchema>;

export const inboxSettingsSchema = z
  .object({
    greeting: z.string().max(2000).optional(),
    autoGreeting: z.string().max(2000).optional(),
    windowSeconds: seconds(3600, 7 * 86400).default(86400),
    color: z.string().regex(/^#[0-9a-fA-F]{6}$/, "Use a colour like #1f6feb.").optional(),
    position: z.enum(["left", "right"]).optional(),
    locale: z.string().max(16).optional(),
    /** Where outbound sends go (tests point this at a local server). */
    apiBaseUrl: z.string().url().max(500).optional(),
    conferenceUrlPattern: z.string().max(500).optional(),
    /** Messages a web visitor may send per minute (in bursts of a quarter of it); beyond, a 429. */
    visitorMessagesPerMinute: z.number().int().min(10).max(100_000).default(120),
    strictIdentity: z.boolean().optional(),
    bot: botFlowSchema.optional(),
  })
  .openapi("InboxSettings");
export type InboxSettings = z.infer<typeof inboxSettingsSchema>;
/**
 * Stored settings as they are read: a bot is taken as it was stored, without
 * the checks its writes get (botFlowSchema), so a rule added later never
 * makes an inbox unreadable, and the next write asks for the fix.
 */
const storedInboxSettings = inboxSettingsSchema.extend({ bot: botFlowFields.optional() });

/** Provider secrets: write-only, any of these keys. */
export const inboxCredentialsSchema = z
  .record(z.string().regex(/^[a-zA-Z][a-zA-Z0-9_]{0,63}$/, "Credential names are letters, digits and _."), z.string().max(4096))
  .refine((r) => Object.keys(r).length <= 20, "At most 20 credentials.")
  .openapi("InboxCredentials");

export function parseTeamSettings(json: string | null | undefined): TeamSettings {
  return teamSettingsSchema.parse(safeJson(json));
}
export function parseInboxSettings(json: string | null | undefined): InboxSettings {
  return storedInboxSettings.parse(safeJson(json));
}
function safeJson(json: string | null | undefined): unknown {
  try {
    return json ? JSON.parse(json) : {};
  } catch {
    return {};
  }
}
