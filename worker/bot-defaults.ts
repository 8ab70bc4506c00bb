// What an inbox's bot says until an admin words it otherwise: the defaults of
// the stored setting (settings.ts) and of the admin form's new bot (web/).
// No imports, so the desk can share it without the Worker's schema library.
export const BOT_DEFAULTS = {
  greeting: "Hi! How can we help you today?",
  fallback: "Sorry, I did not understand. Please answer with the number of an option.",
  giveUpAfter: 2,
  handoverMessage: "One moment please, I am connecting you with a person.",
  awayMessage: "Nobody is available right now. Leave your question here and we will answer as soon as we are back.",
} as const;
