// PBKDF2-SHA256 password hashes: "pbkdf2$<iterations>$<salt>$<hash>" (base64url).
// 100,000 iterations is workerd's ceiling for PBKDF2 in Web Crypto.
import { base64url, fromBase64url, timingSafeEqual } from "./crypto";

export const PBKDF2_ITERATIONS = 100_000;

async function derive(password: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  const key = await crypto.subtle.importKey("raw", new TextEncoder().encode(password), "PBKDF2", false, ["deriveBits"]);
  const bits = await crypto.subtle.deriveBits({ name: "PBKDF2", hash: "SHA-256", salt, iterations }, key, 256);
  return new Uint8Array(bits);
}

export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.getRandomValues(new Uint8Array(16));
  const hash = await derive(password, salt, PBKDF2_ITERATIONS);
  return `pbkdf2$${PBKDF2_ITERATIONS}$${base64url(salt)}$${base64url(hash)}`;
}

export async function verifyPassword(password: string, stored: string | null): Promise<boolean> {
  // Unknown users and users without a password still pay for one derivation,
  // so response time does not reveal which emails exist.
  const parts = stored?.split("$");
  if (!parts || parts.length !== 4 || parts[0] !== "pbkdf2") {
    await derive(password, new Uint8Array(16), PBKDF2_ITERATIONS);
    return false;
  }
  const iterations = Number(parts[1]);
  const expected = fromBase64url(parts[3]);
  const actual = await derive(password, fromBase64url(parts[2]), iterations);
  return timingSafeEqual(actual, expected);
}
