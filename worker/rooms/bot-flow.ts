// The inbox's menu bot (SPEC §2, the `bot` state): what it says when a
// conversation starts and how it answers the customer until it hands the
// conversation to the team's queue. Pure: the room stores what it says and
// moves the conversation (ConversationFlow.botTurn).
import { type BotFlow, botOptionKey } from "../settings";

/** The menu as the widget shows it (buttons); text channels get the numbered list in the body. */
export interface BotMenu {
  menu: { number: number; label: string }[];
}

export interface BotLine {
  body: string;
  data: BotMenu | null;
}

/** Why the bot let go: the customer picked a hand-over option, the bot did not understand them, or it was switched off. */
export type HandoverReason = "asked" | "gave_up" | "bot_off";

export interface BotAnswer {
  /** What the bot says, in order (before a hand-over, if any). */
  lines: BotLine[];
  handover: HandoverReason | null;
  /** Answers in a row it did not understand (0 after one it did). */
  misses: number;
}

/** A line that offers the menu: numbered in the text (text channels) and as data (the widget's buttons). */
function withMenu(flow: BotFlow, text: string): BotLine {
  return {
    body: `${text}\n\n${flow.options.map((o, i) => `${i + 1}. ${o.label}`).join("\n")}`,
    data: { menu: flow.options.map((o, i) => ({ number: i + 1, label: o.label })) },
  };
}

/** The first thing the customer sees in a conversation that starts with the bot. */
export function botGreeting(flow: BotFlow): BotLine {
  return withMenu(flow, flow.greeting);
}

/** The bot's answer to the customer's next message (`text` null: not text, say a photo). */
export function botAnswer(flow: BotFlow, text: string | null, missesBefore: number): BotAnswer {
  const picked = text === null ? null : pickOption(flow, text);
  if (picked === null) {
    const misses = missesBefore + 1;
    if (misses >= flow.giveUpAfter) return { lines: [], handover: "gave_up", misses };
    return { lines: [withMenu(flow, flow.fallback)], handover: null, misses };
  }
  const option = flow.options[picked];
  // An answer that stays with the bot offers the menu again (as text too, for text channels).
  const lines: BotLine[] = option.reply ? [option.handover ? { body: option.reply, data: null } : withMenu(flow, option.reply)] : [];
  // Understood: the count of answers in a row it did not understand starts again.
  return { lines, handover: option.handover ? "asked" : null, misses: 0 };
}

/**
 * The option the customer means: its label (what a widget button sends),
 * ignoring case, spacing and closing punctuation, else its number ("2", "2.",
 * "2) talk to someone"). Null when it is neither: the bot does not guess.
 */
export function pickOption(flow: BotFlow, text: string): number | null {
  const said = botOptionKey(text);
  const byLabel = flow.options.findIndex((o) => botOptionKey(o.label) === said);
  if (byLabel >= 0) return byLabel;
  const number = said.match(/^(\d+)(?:$|[.):\s])/);
  if (!number) return null;
  const i = Number(number[1]) - 1;
  return i >= 0 && i < flow.options.length ? i : null;
}
