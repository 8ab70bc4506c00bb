// The Worker's bindings and secrets, in one typed place.
import { z } from "zod";
import type { ChatRoom } from "./rooms/chat-room";
import type { TeamHub } from "./teams/team-hub";

export interface Env {
  DB: D1Database;
  FILES: R2Bucket;
  CHAT_ROOM: DurableObjectNamespace<ChatRoom>;
  TEAM_HUB: DurableObjectNamespace<TeamHub>;
  ASSETS: Fetcher;
  /** HMAC key for visitor tokens (widget sessions). */
  VISITOR_TOKEN_SECRET: string;
  /** HMAC key for short-lived signed attachment URLs. */
  FILE_URL_SECRET: string;
}

/** Secrets must be present and long enough; checked once per isolate. */
const secretsSchema = z.object({
  VISITOR_TOKEN_SECRET: z.string().min(32, "VISITOR_TOKEN_SECRET must be at least 32 characters"),
  FILE_URL_SECRET: z.string().min(32, "FILE_URL_SECRET must be at least 32 characters"),
});

let checked = false;
export function assertSecrets(env: Env): void {
  if (checked) return;
  const result = secretsSchema.safeParse(env);
  if (!result.success) {
    throw new Error(`Edgedesk is misconfigured: ${result.error.issues.map((i) => i.message).join("; ")}`);
  }
  checked = true;
}
