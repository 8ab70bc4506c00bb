// What the inbox screens know about each channel kind. The credential names
// are suggestions shown as inputs; any other name can be added by hand.
import type { InboxKind } from "./api";

export interface ChannelInfo {
  kind: InboxKind;
  label: string;
  credentials: { key: string; label: string }[];
}

export const CHANNELS: ChannelInfo[] = [
  { kind: "web", label: "Web widget", credentials: [{ key: "identitySecret", label: "Identity verification secret" }] },
  {
    kind: "whatsapp",
    label: "WhatsApp Cloud API",
    credentials: [
      { key: "accessToken", label: "Access token" },
      { key: "appSecret", label: "App secret" },
      { key: "verifyToken", label: "Webhook verify token" },
      { key: "phoneNumberId", label: "Phone number ID" },
    ],
  },
  {
    kind: "messenger",
    label: "Facebook Messenger",
    credentials: [
      { key: "pageAccessToken", label: "Page access token" },
      { key: "appSecret", label: "App secret" },
      { key: "verifyToken", label: "Webhook verify token" },
      { key: "pageId", label: "Page ID" },
    ],
  },
  {
    kind: "instagram",
    label: "Instagram",
    credentials: [
      { key: "accessToken", label: "Access token" },
      { key: "appSecret", label: "App secret" },
      { key: "verifyToken", label: "Webhook verify token" },
      { key: "igId", label: "Instagram account ID" },
    ],
  },
  {
    kind: "telegram",
    label: "Telegram",
    credentials: [
      { key: "botToken", label: "Bot token" },
      { key: "secretToken", label: "Webhook secret token" },
    ],
  },
  {
    kind: "sms",
    label: "SMS (Twilio)",
    credentials: [
      { key: "accountSid", label: "Account SID" },
      { key: "authToken", label: "Auth token" },
      { key: "fromNumber", label: "From number" },
    ],
  },
  {
    kind: "x",
    label: "X direct messages",
    credentials: [
      { key: "consumerSecret", label: "Consumer secret" },
      { key: "accessToken", label: "User access token" },
    ],
  },
];

export const channel = (kind: string): ChannelInfo | undefined => CHANNELS.find((c) => c.kind === kind);
export const channelLabel = (kind: string) => channel(kind)?.label ?? kind;

export const RETIRED_CHANNEL = {
  label: "Google Business Messages",
  note: "Retired by Google on 2024-07-31, so it cannot be added.",
};
