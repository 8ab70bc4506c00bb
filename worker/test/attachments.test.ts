import { env } from "cloudflare:workers";
import { beforeAll, describe, expect, it } from "vitest";
import { signVisitorToken } from "../auth/visitor-token";
import { verifyReceipt } from "../files/receipt";
import { fileSignature, filePath } from "../files/signed-url";
import { checkContent } from "../files/sniff";
import { roomKeyPrefix } from "../files/upload";
import { call, login, seedAgent, seedInbox, seedTeam } from "./helpers";
import { isMessage, openSocket } from "./ws";

const MB = 1024 * 1024;
const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, ...Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff)]);
const PDF_HEAD = new TextEncoder().encode("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n");
const EXE = new Uint8Array([0x4d, 0x5a, 0x90, 0x00, 0x03, 0x00, 0x00, 0x00, ...new Array(200).fill(0)]);

let inbox: string;
let agentCookie: string;
let outsiderCookie: string;

beforeAll(async () => {
  const team = await seedTeam("Files");
  const otherTeam = await seedTeam("Elsewhere");
  inbox = await seedInbox(team);
  await seedAgent({ email: "fay@example.com", teams: [{ teamId: team, role: "agent" }] });
  await seedAgent({ email: "otto@example.com", teams: [{ teamId: otherTeam, role: "agent" }] });
  agentCookie = await login("fay@example.com");
  outsiderCookie = await login("otto@example.com");
});

const roomOf = (contactKey: string) => `${inbox}:${contactKey}`;

/** `total` bytes starting with `head`, produced chunk by chunk (never one big buffer). */
function streamOf(head: Uint8Array, total: number, chunk = 64 * 1024): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const buf = new Uint8Array(Math.min(chunk, total - sent)).fill(0x20 + (sent % 90));
      if (sent === 0) buf.set(head.subarray(0, buf.length));
      controller.enqueue(buf);
      sent += buf.length;
    },
  });
}

interface UploadOptions {
  type: string;
  cookie?: string;
  bearer?: string;
  /** Content-Length to send; null sends none. Defaults to the body's length. */
  length?: number | null;
}

function upload(roomId: string, name: string, body: Uint8Array | ReadableStream<Uint8Array>, opts: UploadOptions) {
  const headers: Record<string, string> = { "content-type": opts.type };
  const length = opts.length === undefined ? (body as Uint8Array).byteLength : opts.length;
  if (length !== null) headers["content-length"] = String(length);
  if (opts.bearer) headers.authorization = `Bearer ${opts.bearer}`;
  return call(`/api/v1/rooms/${encodeURIComponent(roomId)}/attachments?name=${encodeURIComponent(name)}`, { method: "POST", body, headers, cookie: opts.cookie });
}

async function stored(roomId: string) {
  return (await env.FILES.list({ prefix: roomKeyPrefix(roomId) })).objects;
}

const errorCode = async (res: Response) => (await res.json<{ error: { code: string; message: string } }>()).error;

interface Uploaded {
  key: string;
  name: string;
  type: string;
  size: number;
  kind: string;
  receipt: string;
}

async function signedUrl(roomId: string, key: string, cookie = agentCookie) {
  return call(`/api/v1/rooms/${encodeURIComponent(roomId)}/attachments/url`, { method: "POST", cookie, json: { key } });
}

const visitorToken = (contactKey: string) =>
  signVisitorToken(env.VISITOR_TOKEN_SECRET, { inboxId: inbox, contactKey, expiresAt: Date.now() + 3600_000 });

describe("uploading attachments", () => {
  it("an agent's PNG is stored in R2 with its type and a receipt the room will accept", async () => {
    const room = roomOf("visitor-1");
    const res = await upload(room, "photo.png", PNG, { type: "image/png", cookie: agentCookie });
    expect(res.status).toBe(201);
    const file = await res.json<Uploaded>();
    expect(file).toMatchObject({ name: "photo.png", type: "image/png", size: PNG.byteLength, kind: "image" });
    expect(file.key.startsWith(roomKeyPrefix(room))).toBe(true);
    expect(file.key.endsWith("/photo.png")).toBe(true);
    const head = await env.FILES.head(file.key);
    expect(head?.size).toBe(PNG.byteLength);
    expect(head?.httpMetadata?.contentType).toBe("image/png");
    expect(head?.customMetadata).toMatchObject({ roomId: room, name: "photo.png" });
    expect(await verifyReceipt(env.FILE_URL_SECRET, room, file)).toBe(true);
    expect(await verifyReceipt(env.FILE_URL_SECRET, roomOf("visitor-2"), file)).toBe(false);
  });

  it("a visitor uploads into their own room with their token", async () => {
    const room = roomOf("visitor-own");
    const res = await upload(room, "notes.txt", new TextEncoder().encode("hello, here is my order number 12345\n"), { type: "text/plain", bearer: await visitorToken("visitor-own") });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ type: "text/plain", kind: "document" });
    expect(await stored(room)).toHaveLength(1);
  });

  it("a photo and the line sent right after it start a conversation in the order they were sent (the photo's receipt is checked first)", async () => {
    const room = roomOf("visitor-order");
    const token = await visitorToken("visitor-order");
    const visitor = await openSocket(`/ws/visitor?token=${encodeURIComponent(token)}`);
    try {
      const photo = await (await upload(room, "broken.png", PNG, { type: "image/png", bearer: token })).json<Uploaded>();
      visitor.send({ type: "send", clientId: crypto.randomUUID(), body: "", attachments: [photo] });
      visitor.send({ type: "send", clientId: crypto.randomUUID(), body: "here it is" });
      const line = await visitor.next(isMessage("here it is"));
      const sent = await visitor.next((fr) => fr.type === "message" && fr.message.kind === "attachment");
      expect(sent.message.seq).toBeLessThan(line.message.seq);
    } finally {
      await visitor.close();
    }
  });

  it("a 6 MB image is refused with 413 naming the limit, and nothing is stored", async () => {
    const room = roomOf("big-image");
    const res = await upload(room, "huge.png", streamOf(PNG, 6 * MB), { type: "image/png", cookie: agentCookie, length: 6 * MB });
    expect(res.status).toBe(413);
    const error = await errorCode(res);
    expect(error.code).toBe("too_large");
    expect(error.message).toContain("5 MB");
    expect(await stored(room)).toHaveLength(0);
  });

  it("an image declared as a generic document still gets the image limit", async () => {
    const room = roomOf("disguised-image");
    const res = await upload(room, "huge.bin", streamOf(PNG, 6 * MB), { type: "application/octet-stream", cookie: agentCookie, length: 6 * MB });
    expect(res.status).toBe(413);
    expect(await stored(room)).toHaveLength(0);
  });

  it("a 20 MB PDF is accepted as a document, streamed without holding it in memory", async () => {
    const room = roomOf("big-pdf");
    const size = 20 * MB;
    const res = await upload(room, "manual.pdf", streamOf(PDF_HEAD, size), { type: "application/pdf", cookie: agentCookie, length: size });
    expect(res.status).toBe(201);
    const file = await res.json<Uploaded>();
    expect(file).toMatchObject({ type: "application/pdf", size, kind: "document" });
    expect((await env.FILES.head(file.key))?.size).toBe(size);
  });

  it("a 'photo.png' that is really a Windows program is refused with 415, nothing stored", async () => {
    const room = roomOf("exe");
    const res = await upload(room, "photo.png", EXE, { type: "image/png", cookie: agentCookie });
    expect(res.status).toBe(415);
    expect((await errorCode(res)).code).toBe("unsupported_media_type");
    expect(await stored(room)).toHaveLength(0);
    // Declared as a generic download it is still a program.
    const generic = await upload(room, "tool.bin", EXE, { type: "application/octet-stream", cookie: agentCookie });
    expect(generic.status).toBe(415);
    expect(await stored(room)).toHaveLength(0);
  });

  it("a file declared as a JPEG whose bytes are a PDF is refused with 415", async () => {
    const room = roomOf("fake-jpeg");
    const res = await upload(room, "scan.jpg", PDF_HEAD, { type: "image/jpeg", cookie: agentCookie });
    expect(res.status).toBe(415);
    expect((await errorCode(res)).message).toMatch(/image\/jpeg/);
    expect(await stored(room)).toHaveLength(0);
  });

  it("an SVG is refused as an image (it can carry scripts)", async () => {
    const res = await upload(roomOf("svg"), "logo.svg", new TextEncoder().encode('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'), { type: "image/svg+xml", cookie: agentCookie });
    expect(res.status).toBe(415);
  });

  it("an upload without Content-Length is refused with 411 in the house error shape", async () => {
    const room = roomOf("no-length");
    const res = await upload(room, "photo.png", streamOf(PNG, 1000), { type: "image/png", cookie: agentCookie, length: null });
    expect(res.status).toBe(411);
    expect((await errorCode(res)).code).toBe("length_required");
    expect(await stored(room)).toHaveLength(0);
  });

  it("a Content-Length that understates the body is refused and nothing is stored", async () => {
    const room = roomOf("lying-length");
    const res = await upload(room, "photo.png", streamOf(PNG, 1000), { type: "image/png", cookie: agentCookie, length: 10 });
    expect(res.status).toBe(400);
    expect((await errorCode(res)).code).toBe("length_mismatch");
    expect(await stored(room)).toHaveLength(0);
  });

  it("a body that outgrows its Content-Length after the first bytes is cut off and nothing is stored", async () => {
    const room = roomOf("lying-later");
    const res = await upload(room, "notes.txt", streamOf(new TextEncoder().encode("plain text "), 300 * 1024), { type: "text/plain", cookie: agentCookie, length: 100 * 1024 });
    expect(res.status).toBe(400);
    expect((await errorCode(res)).code).toBe("length_mismatch");
    expect(await stored(room)).toHaveLength(0);
  });

  it("a visitor token for another room cannot upload here", async () => {
    const room = roomOf("victim");
    const res = await upload(room, "photo.png", PNG, { type: "image/png", bearer: await visitorToken("intruder") });
    expect([403, 404]).toContain(res.status);
    expect(await stored(room)).toHaveLength(0);
  });

  it("an upload without any credentials is refused with 401", async () => {
    const res = await upload(roomOf("anon"), "photo.png", PNG, { type: "image/png" });
    expect(res.status).toBe(401);
  });

  it("an agent of another team is refused with 403", async () => {
    const room = roomOf("other-team");
    const res = await upload(room, "photo.png", PNG, { type: "image/png", cookie: outsiderCookie });
    expect(res.status).toBe(403);
    expect(await stored(room)).toHaveLength(0);
  });

  it("a hostile file name is stored without path separators or control characters", async () => {
    const room = roomOf("names");
    const res = await upload(room, "../../etc/\u202Egnp.txt\u0000", new TextEncoder().encode("just text"), { type: "text/plain", cookie: agentCookie });
    expect(res.status).toBe(201);
    const file = await res.json<Uploaded>();
    expect(file.name).toBe("_.._etc_gnp.txt");
    expect(file.key.split("/")).toHaveLength(4);
  });

  it("a program name hidden behind trailing dots is still refused", async () => {
    const room = roomOf("trailing-dot");
    const res = await upload(room, "setup.exe. .", new TextEncoder().encode("looks like text"), { type: "text/plain", cookie: agentCookie });
    expect(res.status).toBe(415);
    expect(await stored(room)).toHaveLength(0);
  });

  it("a multipart form is refused with a hint to send the raw file", async () => {
    const res = await upload(roomOf("multipart"), "photo.png", PNG, { type: "multipart/form-data; boundary=x", cookie: agentCookie });
    expect(res.status).toBe(415);
    expect((await errorCode(res)).message).toMatch(/multipart/);
  });
});

describe("signed download URLs", () => {
  let room: string;
  let file: Uploaded;

  beforeAll(async () => {
    room = roomOf("downloads");
    const res = await upload(room, "photo.png", PNG, { type: "image/png", cookie: agentCookie });
    if (res.status !== 201) throw new Error(`upload failed: ${res.status} ${await res.text()}`);
    file = await res.json<Uploaded>();
  });

  it("a fresh URL serves the exact bytes without a cookie, with safe headers", async () => {
    const res = await signedUrl(room, file.key);
    expect(res.status).toBe(200);
    const { url, expiresAt } = await res.json<{ url: string; expiresAt: number }>();
    expect(expiresAt).toBeGreaterThan(Date.now());
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 5 * 60 * 1000);
    const download = await call(url);
    expect(download.status).toBe(200);
    expect(new Uint8Array(await download.arrayBuffer())).toEqual(PNG);
    expect(download.headers.get("content-type")).toBe("image/png");
    expect(download.headers.get("content-disposition")).toMatch(/^inline; .*filename\*=UTF-8''photo\.png/);
    expect(download.headers.get("x-content-type-options")).toBe("nosniff");
    expect(download.headers.get("content-security-policy")).toBe("default-src 'none'; sandbox");
    expect(download.headers.get("cache-control")).toBe("private, max-age=300");
  });

  it("a visitor of the room gets URLs for its files too", async () => {
    const res = await call(`/api/v1/rooms/${encodeURIComponent(room)}/attachments/url`, {
      method: "POST",
      json: { key: file.key },
      headers: { authorization: `Bearer ${await visitorToken("downloads")}` },
    });
    expect(res.status).toBe(200);
  });

  it("a byte range is served as 206", async () => {
    const { url } = await (await signedUrl(room, file.key)).json<{ url: string }>();
    const res = await call(url, { headers: { range: "bytes=0-7" } });
    expect(res.status).toBe(206);
    expect(res.headers.get("content-range")).toBe(`bytes 0-7/${PNG.byteLength}`);
    expect(new Uint8Array(await res.arrayBuffer())).toEqual(PNG.subarray(0, 8));
  });

  it("a document downloads as an attachment, never inline", async () => {
    const res = await upload(room, "report.pdf", PDF_HEAD, { type: "application/pdf", cookie: agentCookie });
    const pdf = await res.json<Uploaded>();
    const { url } = await (await signedUrl(room, pdf.key)).json<{ url: string }>();
    const download = await call(url);
    expect(download.status).toBe(200);
    expect(download.headers.get("content-disposition")).toMatch(/^attachment; /);
    await download.arrayBuffer();
  });

  it("a tampered signature is refused with 403", async () => {
    const { url } = await (await signedUrl(room, file.key)).json<{ url: string }>();
    const tampered = url.replace(/sig=(.)/, (_, ch: string) => `sig=${ch === "A" ? "B" : "A"}`);
    const res = await call(tampered);
    expect(res.status).toBe(403);
    expect((await errorCode(res)).code).toBe("invalid_signature");
    // A genuine signature does not open another key.
    const other = url.replace(encodeURIComponent("photo.png"), "other.png");
    expect((await call(other)).status).toBe(403);
  });

  it("an expired URL is refused with 403 even with a genuine signature", async () => {
    const exp = Date.now() - 1000;
    const sig = await fileSignature(env.FILE_URL_SECRET, file.key, exp);
    const res = await call(`${filePath(file.key)}?exp=${exp}&sig=${sig}`);
    expect(res.status).toBe(403);
    expect((await errorCode(res)).code).toBe("link_expired");
  });

  it("a key outside the room gets no URL (404)", async () => {
    const foreign = `${roomKeyPrefix(roomOf("someone-else"))}x/secret.pdf`;
    const res = await signedUrl(room, foreign);
    expect(res.status).toBe(404);
  });

  it("an agent of another team gets no URL (403)", async () => {
    const res = await signedUrl(room, file.key, outsiderCookie);
    expect(res.status).toBe(403);
  });

  it("a signed URL for a missing object is 404", async () => {
    const key = `${roomKeyPrefix(room)}gone/nothing.png`;
    const { url } = await (await signedUrl(room, key)).json<{ url: string }>();
    expect((await call(url)).status).toBe(404);
  });

  it("the upload and URL endpoints appear in the OpenAPI document", async () => {
    const doc = await (await call("/api/v1/openapi.json")).json<{ paths: Record<string, unknown> }>();
    expect(Object.keys(doc.paths)).toEqual(expect.arrayContaining(["/rooms/{roomId}/attachments", "/rooms/{roomId}/attachments/url", "/files/{key}"]));
  });
});

describe("content checks", () => {
  const bytes = (...b: (number | string)[]) =>
    new Uint8Array(b.flatMap((x) => (typeof x === "string" ? [...new TextEncoder().encode(x)] : [x])));
  const check = (declared: string, name: string, head: Uint8Array) => {
    try {
      return checkContent(declared, name, head, true);
    } catch (err) {
      return (err as { status: number }).status;
    }
  };

  it("recognises real images, videos, audio and documents by their first bytes", () => {
    expect(check("image/jpeg", "a.jpg", bytes(0xff, 0xd8, 0xff, 0xe0, 0, 0x10))).toEqual({ type: "image/jpeg", kind: "image" });
    expect(check("image/webp", "a.webp", bytes("RIFF", 0, 0, 0, 0, "WEBPVP8 "))).toEqual({ type: "image/webp", kind: "image" });
    expect(check("image/gif", "a.gif", bytes("GIF89a", 1, 0, 1, 0))).toEqual({ type: "image/gif", kind: "image" });
    expect(check("video/mp4", "a.mp4", bytes(0, 0, 0, 0x20, "ftypisom", 0, 0, 2, 0))).toEqual({ type: "video/mp4", kind: "video" });
    expect(check("video/quicktime", "a.mov", bytes(0, 0, 0, 0x14, "ftypqt  "))).toEqual({ type: "video/quicktime", kind: "video" });
    expect(check("video/webm", "a.webm", bytes(0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x82, 0x84, "webm"))).toEqual({ type: "video/webm", kind: "video" });
    expect(check("audio/webm", "a.weba", bytes(0x1a, 0x45, 0xdf, 0xa3, 0x9f, 0x42, 0x82, 0x84, "webm"))).toEqual({ type: "audio/webm", kind: "audio" });
    expect(check("audio/mpeg", "a.mp3", bytes("ID3", 4, 0, 0, 0, 0, 0, 0))).toEqual({ type: "audio/mpeg", kind: "audio" });
    expect(check("audio/ogg", "a.ogg", bytes("OggS", 0, 2))).toEqual({ type: "audio/ogg", kind: "audio" });
    expect(check("audio/wav", "a.wav", bytes("RIFF", 0, 0, 0, 0, "WAVEfmt "))).toEqual({ type: "audio/wav", kind: "audio" });
    expect(check("application/vnd.openxmlformats-officedocument.wordprocessingml.document", "a.docx", bytes("PK", 3, 4, 20, 0))).toEqual({
      type: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
      kind: "document",
    });
    expect(check("text/csv", "a.csv", bytes("name,total\nÅsa,3\n"))).toEqual({ type: "text/csv", kind: "document" });
    expect(check("application/json", "a.json", bytes(' {"a": 1}'))).toEqual({ type: "application/json", kind: "document" });
  });

  it("serves markup as plain text, never as something a browser renders", () => {
    expect(check("text/html", "a.html", bytes("<!doctype html><script>alert(1)</script>"))).toEqual({ type: "text/plain", kind: "document" });
  });

  it("refuses programs, scripts and contradictions", () => {
    expect(check("application/octet-stream", "a", bytes(0x7f, "ELF", 2, 1, 1))).toBe(415);
    expect(check("application/octet-stream", "a", bytes(0xcf, 0xfa, 0xed, 0xfe, 7, 0, 0, 1))).toBe(415);
    expect(check("text/plain", "run.txt", bytes("#!/bin/sh\nrm -rf /\n"))).toBe(415);
    expect(check("text/plain", "invoice.pdf.exe", bytes("hello"))).toBe(415);
    expect(check("video/mp4", "a.mp4", bytes(0x89, "PNG", 0x0d, 0x0a, 0x1a, 0x0a))).toBe(415);
    expect(check("application/pdf", "a.pdf", bytes("PK", 3, 4))).toBe(415);
    expect(check("text/plain", "a.txt", bytes(0, 1, 2, 3, 0xff))).toBe(415);
  });
});
