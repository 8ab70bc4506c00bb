// Streaming an upload into R2 (SPEC §3). The size is checked from
// Content-Length before a byte is read, the first bytes are sniffed, and the
// body then flows to R2 through a counter, so a 100 MB file is never held in
// memory and a Content-Length that lies cannot get a larger file stored.
import { ApiError, badRequest } from "../http/errors";
import { checkContent, declaredKind, type FileKind, normalizeType, SNIFF_BYTES } from "./sniff";

const MB = 1024 * 1024;
export const SIZE_LIMITS: Record<FileKind, number> = { image: 5 * MB, video: 16 * MB, audio: 100 * MB, document: 100 * MB };
const KIND_LABEL: Record<FileKind, string> = { image: "Images", video: "Videos", audio: "Audio files", document: "Documents" };
/** attachmentRefSchema allows 300 characters for a key. */
const MAX_KEY_LENGTH = 300;

export interface StoredFile {
  key: string;
  name: string;
  type: string;
  size: number;
  kind: FileKind;
}

export function tooLarge(kind: FileKind, size: number): ApiError {
  const mb = (n: number) => `${Math.round((n / MB) * 10) / 10} MB`;
  return new ApiError(413, "too_large", `${KIND_LABEL[kind]} can be at most ${mb(SIZE_LIMITS[kind])}; this file is ${mb(size)}.`);
}

/** The upload's size from its Content-Length header: required, and within the declared category's limit. */
export function declaredLength(header: string | undefined, declaredType: string): number {
  if (header === undefined) throw new ApiError(411, "length_required", "Send the file size in a Content-Length header (uploads are not chunked).");
  if (!/^\d{1,16}$/.test(header.trim())) throw badRequest("Content-Length must be a whole number of bytes.");
  const size = Number(header.trim());
  if (size === 0) throw new ApiError(400, "empty_file", "The file is empty.");
  const kind = declaredKind(normalizeType(declaredType));
  if (size > SIZE_LIMITS[kind]) throw tooLarge(kind, size);
  return size;
}

/** Longest prefix of `s` with at most `max` UTF-16 units, never splitting a character. */
function clip(s: string, max: number): string {
  if (s.length <= max) return s;
  let out = "";
  for (const ch of s) {
    if (out.length + ch.length > max) break;
    out += ch;
  }
  return out;
}

/** Keeps the extension when a long name has to be shortened. */
function clipName(name: string, max: number): string {
  if (name.length <= max) return name;
  const ext = name.match(/\.[^.\s]{1,16}$/)?.[0] ?? "";
  return clip(name.slice(0, name.length - ext.length), Math.max(1, max - ext.length)) + ext;
}

/**
 * A file name safe to store, show and put in a header: no path separators,
 * no control or bidi-override characters (the "photo‮gnp.exe" trick), no
 * leading or trailing dots, at most 255 characters.
 */
export function sanitizeName(raw: string): string {
  const name = raw
    .normalize("NFC")
    .replace(/[\u0000-\u001f\u007f-\u009f\u200b-\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069\ufeff]/g, "")
    .replace(/[\\/]/g, "_")
    .trim()
    .replace(/^\.+/, "")
    // Windows drops trailing dots and spaces on save: "setup.exe." would become setup.exe.
    .replace(/[.\s]+$/, "")
    .trim();
  return clipName(name, 255) || "file";
}

/**
 * Every key of a room starts with this. The room id is URL-encoded so one
 * room's prefix can never be a prefix of another's ("a:b/" vs "a:b/c").
 */
export const roomKeyPrefix = (roomId: string) => `rooms/${encodeURIComponent(roomId)}/`;

export function objectKey(roomId: string, name: string): string {
  const prefix = `${roomKeyPrefix(roomId)}${crypto.randomUUID()}/`;
  return prefix + clipName(name, Math.max(16, MAX_KEY_LENGTH - prefix.length));
}

/** `attachment; filename="ascii"; filename*=UTF-8''…` (RFC 6266), with an ASCII fallback for old clients. */
export function contentDisposition(disposition: "inline" | "attachment", name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\%]/g, "_");
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (ch) => `%${ch.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${disposition}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

const withCharset = (type: string) => (type.startsWith("text/") || type === "application/json" ? `${type}; charset=utf-8` : type);

const longerThanDeclared = () => new ApiError(400, "length_mismatch", "The body is longer than its Content-Length.");
const shorterThanDeclared = () => new ApiError(400, "length_mismatch", "The body ended before Content-Length bytes arrived.");

export interface UploadRequest {
  roomId: string;
  /** Already sanitized. */
  name: string;
  declaredType: string;
  /** From Content-Length, already checked against the declared category. */
  size: number;
  body: ReadableStream<Uint8Array>;
  /** Who uploaded, for the object's metadata ("agent:<id>" or "visitor:<roomId>"). */
  uploader: string;
}

/** Sniffs, checks and stores one upload; throws an ApiError (nothing stored) when it is refused. */
export async function storeUpload(bucket: R2Bucket, req: UploadRequest): Promise<StoredFile> {
  // 1. The head: just enough bytes to tell what the file is.
  const reader = req.body.getReader();
  const chunks: Uint8Array[] = [];
  let read = 0;
  let ended = false;
  try {
    while (read < SNIFF_BYTES) {
      const next = await reader.read();
      if (next.done) {
        ended = true;
        break;
      }
      chunks.push(next.value);
      read += next.value.byteLength;
    }
    if (read > req.size) throw longerThanDeclared();
    if (ended && read < req.size) throw shorterThanDeclared();
  } catch (err) {
    await reader.cancel().catch(() => {});
    throw err;
  }
  const head = concat(chunks).subarray(0, SNIFF_BYTES);
  let checked: ReturnType<typeof checkContent>;
  try {
    checked = checkContent(normalizeType(req.declaredType), req.name, head, ended && read <= SNIFF_BYTES);
    // A file declared as a document may turn out to be an image: its real kind's limit applies.
    if (req.size > SIZE_LIMITS[checked.kind]) throw tooLarge(checked.kind, req.size);
  } catch (err) {
    await reader.cancel().catch(() => {});
    throw err;
  }
  reader.releaseLock();

  // 2. The body: the head again, then the rest, counted on the way to R2.
  // The latest chunk is held back until the next one (or the end) arrives:
  // R2 commits an object once it has all Content-Length bytes, so the final
  // bytes only go through when nothing follows them.
  let failure: ApiError | undefined;
  let counted = read;
  let held: Uint8Array | undefined;
  const counter = new TransformStream<Uint8Array, Uint8Array>({
    start(controller) {
      held = chunks.pop();
      for (const chunk of chunks) controller.enqueue(chunk);
    },
    transform(chunk, controller) {
      counted += chunk.byteLength;
      if (counted > req.size) return controller.error((failure = longerThanDeclared()));
      if (held) controller.enqueue(held);
      held = chunk;
    },
    flush(controller) {
      if (counted < req.size) return controller.error((failure = shorterThanDeclared()));
      if (held) controller.enqueue(held);
    },
  });
  // R2 needs to know a stream's length up front; FixedLengthStream carries it.
  const body = req.body.pipeThrough(counter).pipeThrough(new FixedLengthStream(req.size));
  const key = objectKey(req.roomId, req.name);
  try {
    await bucket.put(key, body, {
      httpMetadata: { contentType: withCharset(checked.type), contentDisposition: contentDisposition("attachment", req.name) },
      customMetadata: { roomId: req.roomId, name: req.name, uploader: req.uploader, kind: checked.kind },
    });
  } catch (err) {
    // Belt and braces: whatever R2 kept of a refused upload goes.
    await bucket.delete(key).catch(() => {});
    // The counter's reason reaches R2 as a generic stream error: report ours.
    if (failure) throw failure;
    throw err;
  }
  return { key, name: req.name, type: checked.type, size: req.size, kind: checked.kind };
}

function concat(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.byteLength, 0));
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
