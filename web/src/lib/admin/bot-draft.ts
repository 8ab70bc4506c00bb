// The inbox bot as the admin form edits it, and back to what the API takes.
import { BOT_DEFAULTS } from "../../../../worker/bot-defaults";
import type { BotFlow } from "../api";

export interface BotOptionDraft {
  /** Stays with the option when it moves, so the form's fields (and focus) move with it. */
  key: number;
  label: string;
  reply: string;
  handover: boolean;
}

export interface BotDraft {
  enabled: boolean;
  greeting: string;
  options: BotOptionDraft[];
  fallback: string;
  giveUpAfter: number;
  handoverMessage: string;
  awayMessage: string;
}

export const MAX_BOT_OPTIONS = 9;

let nextKey = 0;
export const newBotOption = (fields: Omit<BotOptionDraft, "key">): BotOptionDraft => ({ key: nextKey++, ...fields });

/** A new bot starts with the one option every bot needs: a way to a person. */
export function botDraft(bot: BotFlow | undefined): BotDraft {
  return {
    enabled: bot?.enabled ?? false,
    greeting: bot?.greeting ?? BOT_DEFAULTS.greeting,
    options: bot?.options.map((o) => newBotOption({ label: o.label, reply: o.reply ?? "", handover: o.handover ?? false })) ?? [newBotOption({ label: "Talk to a person", reply: "", handover: true })],
    fallback: bot?.fallback ?? BOT_DEFAULTS.fallback,
    giveUpAfter: bot?.giveUpAfter ?? BOT_DEFAULTS.giveUpAfter,
    handoverMessage: bot?.handoverMessage ?? BOT_DEFAULTS.handoverMessage,
    awayMessage: bot?.awayMessage ?? BOT_DEFAULTS.awayMessage,
  };
}

/**
 * What to send: the whole bot while it is on; switched off, only that (the
 * stored bot is kept as it was, for later; the form hid its fields, so it
 * must not send edits nobody can see or fix); nothing for a bot never set up.
 */
export function botPayload(draft: BotDraft, stored: BotFlow | undefined): Partial<BotFlow> | undefined {
  if (!draft.enabled) return stored?.enabled ? { enabled: false } : undefined;
  return {
    enabled: draft.enabled,
    greeting: draft.greeting.trim(),
    options: draft.options.map((o) => ({ label: o.label.trim(), handover: o.handover, ...(o.reply.trim() ? { reply: o.reply.trim() } : {}) })),
    fallback: draft.fallback.trim(),
    giveUpAfter: draft.giveUpAfter,
    handoverMessage: draft.handoverMessage.trim(),
    awayMessage: draft.awayMessage.trim(),
  };
}
