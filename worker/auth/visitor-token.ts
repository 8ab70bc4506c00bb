// Visitor tokens (ARCHITECTURE "How a message travels", step 1): an HMAC-signed
// claim of (inbox, contact key, expiry). The widget keeps it in local storage,
// so a visitor's conversation survives reloads; a forged or foreign one is refused.
import { base64url, fromBase64url, hmacSha256, timingSafeEqualText } from "./crypto";

export interface VisitorClaims {
  inboxId: string;
  contactKey: string;
  expiresAt: number;
}

export const VISITOR_TOKEN_TTL_MS = 30 * 24 * 3600 * 1000;

export async function signVisitorToken(secret: string, claims: VisitorClaims): Promise<string> {
  const body = base64url(new TextEncoder().encode(JSON.stringify({ i: claims.inboxId, k: claims.contactKey, e: claims.expiresAt })));
  return `${body}.${base64url(await hmacSha256(secret, `visitor.${body}`))}`;
}

/** The claims of a valid, unexpired token, else null. */
export async function verifyVisitorToken(secret: string, token: string | null | undefined, now = Date.now()): Promise<VisitorClaims | null> {
  if (!token || token.length > 1000) return null;
  const [body, sig, extra] = token.split(".");
  if (!body || !sig || extra !== undefined) return null;
  const expected = base64url(await hmacSha256(secret, `visitor.${body}`));
  if (!timingSafeEqualText(expected, sig)) return null;
  try {
    const raw = JSON.parse(new TextDecoder().decode(fromBase64url(body))) as { i?: unknown; k?: unknown; e?: unknown };
    if (typeof raw.i !== "string" || typeof raw.k !== "string" || typeof raw.e !== "number" || raw.e <= now) return null;
    return { inboxId: raw.i, contactKey: raw.k, expiresAt: raw.e };
  } catch {
    return null;
  }
}
