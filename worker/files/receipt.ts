// Upload receipts: the upload endpoint signs (room, key, name, type, size) so a
// room can trust an attachment reference in a `send` frame without an R2 call
// on its hot path, and a client cannot attach another room's file.
import { base64url, hmacSha256, timingSafeEqualText } from "../auth/crypto";

export interface UploadedFile {
  key: string;
  name: string;
  type: string;
  size: number;
}

const payload = (roomId: string, f: UploadedFile) => JSON.stringify(["receipt", roomId, f.key, f.name, f.type, f.size]);

export async function signReceipt(secret: string, roomId: string, file: UploadedFile): Promise<string> {
  return base64url(await hmacSha256(secret, payload(roomId, file)));
}

export async function verifyReceipt(secret: string, roomId: string, file: UploadedFile & { receipt: string }): Promise<boolean> {
  return timingSafeEqualText(await signReceipt(secret, roomId, file), file.receipt);
}
