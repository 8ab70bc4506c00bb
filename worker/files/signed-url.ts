// Short-lived signed download URLs (SPEC §3). The URL itself is the
// credential, so an <img src> in the widget iframe works without a cookie or
// a bearer header; it names one key and stops working after five minutes.
import { base64url, hmacSha256, timingSafeEqualText } from "../auth/crypto";

export const SIGNED_URL_TTL_MS = 5 * 60 * 1000;
export const FILES_PATH = "/api/v1/files/";

export async function fileSignature(secret: string, key: string, exp: number): Promise<string> {
  return base64url(await hmacSha256(secret, `file|${key}|${exp}`));
}

/** The download path for a key: each segment URL-encoded, so any key survives the round trip. */
export const filePath = (key: string) => FILES_PATH + key.split("/").map(encodeURIComponent).join("/");

/** The key a download path names, or null when it does not decode. */
export function keyFromPath(pathname: string): string | null {
  const at = pathname.indexOf(FILES_PATH);
  if (at < 0) return null;
  try {
    const key = pathname.slice(at + FILES_PATH.length).split("/").map(decodeURIComponent).join("/");
    return key.length > 0 && key.length <= 1024 ? key : null;
  } catch {
    return null;
  }
}

export async function signFileUrl(secret: string, key: string, now = Date.now()): Promise<{ url: string; expiresAt: number }> {
  const exp = now + SIGNED_URL_TTL_MS;
  const sig = await fileSignature(secret, key, exp);
  return { url: `${filePath(key)}?exp=${exp}&sig=${sig}`, expiresAt: exp };
}

export type UrlCheck = "ok" | "invalid" | "expired";

/** Signature first (constant time), then expiry: an expired link is only reported as such when it was genuine. */
export async function checkFileUrl(secret: string, key: string, exp: string | undefined, sig: string | undefined, now = Date.now()): Promise<UrlCheck> {
  if (!exp || !sig || !/^\d{1,15}$/.test(exp) || sig.length > 128) return "invalid";
  const expected = await fileSignature(secret, key, Number(exp));
  if (!timingSafeEqualText(expected, sig)) return "invalid";
  return Number(exp) > now ? "ok" : "expired";
}
