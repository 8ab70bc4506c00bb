// Attachments (SPEC §3): raw-body uploads streamed to R2, signed download
// URLs for callers who may use the room, and the cookie-less download itself.
// These routes authenticate on their own: a room's caller is an agent (cookie)
// or its visitor (bearer token), and downloads carry their credential in the URL.
import { createRoute, z } from "@hono/zod-openapi";
import type { Context } from "hono";
import { limit } from "../auth/fixed-window";
import { signReceipt } from "../files/receipt";
import { checkFileUrl, keyFromPath, signFileUrl } from "../files/signed-url";
import { contentDisposition, declaredLength, roomKeyPrefix, sanitizeName, storeUpload } from "../files/upload";
import type { Identity } from "../identity";
import type { RoomAddress } from "../rpc";
import { type AppEnv, newRouter, route } from "./app";
import { resolveRoom, roomCaller, roomStub } from "./caller";
import { ApiError, forbidden, notFound } from "./errors";

const UPLOADS_PER_MINUTE = 60;

const roomParam = z.object({ roomId: z.string().min(3).max(200).openapi({ param: { name: "roomId", in: "path" }, example: "inboxId:contactKey" }) });
const uploadQuery = z.object({ name: z.string().trim().min(1, "Give the file a name.").max(1000).openapi({ param: { name: "name", in: "query" }, example: "invoice.pdf" }) });
const attachmentSchema = z
  .object({
    key: z.string(),
    name: z.string(),
    type: z.string(),
    size: z.number().int(),
    kind: z.enum(["image", "video", "audio", "document"]),
    receipt: z.string().openapi({ description: "Put the whole object in a send frame's attachments; the room checks this HMAC." }),
  })
  .openapi("Attachment");
const problem = { description: "Error ({ error: { code, message } })", content: { "application/json": { schema: z.object({ error: z.object({ code: z.string(), message: z.string() }) }) } } };

/** The caller, after checking the room lets them in (visitors: only their own room). */
async function roomMember(c: Context<AppEnv>, roomId: string): Promise<{ address: RoomAddress; who: Identity }> {
  const address = await resolveRoom(c.env, roomId);
  const who = await roomCaller(c, address);
  return { address, who };
}

async function requireAccess(c: Context<AppEnv>, address: RoomAddress, who: Identity): Promise<void> {
  if (!(await roomStub(c.env, address.roomId).mayAccess(who, address))) throw forbidden("You cannot use this conversation.");
}

const uploaderOf = (who: Identity, address: RoomAddress) => (who.kind === "agent" ? `agent:${who.agentId}` : `visitor:${address.roomId}`);

export const fileRoutes = newRouter();

fileRoutes.openapi(
  createRoute({
    method: "post",
    path: "/rooms/{roomId}/attachments",
    summary: "Upload an attachment: the raw file as the body, its type as Content-Type",
    description:
      "Not multipart. Content-Length is required. Limits: images 5 MB, videos 16 MB, documents and audio 100 MB. " +
      "The content must match the declared type; programs, scripts and SVG are refused.",
    tags: ["attachments"],
    request: {
      params: roomParam,
      query: uploadQuery,
      body: { required: true, content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } } },
    },
    responses: {
      201: { description: "Stored", content: { "application/json": { schema: attachmentSchema } } },
      400: problem,
      401: problem,
      403: problem,
      404: problem,
      411: problem,
      413: problem,
      415: problem,
      429: problem,
    },
  }),
  async (c) => {
    const { roomId } = c.req.valid("param");
    const { name: rawName } = c.req.valid("query");
    const { address, who } = await roomMember(c, roomId);
    const uploader = uploaderOf(who, address);
    await limit(c.env, `upload:${uploader}`, UPLOADS_PER_MINUTE, 60_000);
    await requireAccess(c, address, who);
    const declaredType = c.req.header("content-type") ?? "application/octet-stream";
    if (/^\s*multipart\//i.test(declaredType)) throw new ApiError(415, "unsupported_media_type", "Send the file itself as the request body, not a multipart form.");
    // Size limits are checked here, before a byte of the body is read.
    const size = declaredLength(c.req.header("content-length"), declaredType);
    const body = c.req.raw.body;
    if (!body) throw new ApiError(400, "empty_file", "The file is empty.");
    const file = await storeUpload(c.env.FILES, { roomId: address.roomId, name: sanitizeName(rawName), declaredType, size, body, uploader });
    const receipt = await signReceipt(c.env.FILE_URL_SECRET, address.roomId, { key: file.key, name: file.name, type: file.type, size: file.size });
    return c.json({ ...file, receipt }, 201);
  },
);

fileRoutes.openapi(
  route({
    method: "post",
    path: "/rooms/{roomId}/attachments/url",
    summary: "A download URL for one of the room's files, valid for five minutes",
    tag: "attachments",
    params: roomParam,
    body: z.object({ key: z.string().min(1).max(1024) }),
  }),
  async (c) => {
    const { roomId } = c.req.valid("param");
    const { key } = c.req.valid("json");
    const { address, who } = await roomMember(c, roomId);
    if (!key.startsWith(roomKeyPrefix(address.roomId))) throw notFound("File");
    // A file sent in an earlier conversation of the room is read as that conversation is.
    if (!(await roomStub(c.env, address.roomId).mayReadFile(who, address, key))) throw forbidden("You cannot use this conversation.");
    return c.json(await signFileUrl(c.env.FILE_URL_SECRET, key), 200);
  },
);

// The key spans several path segments, which an OpenAPI path parameter cannot
// express: a plain route, documented by hand below.
fileRoutes.get("/files/*", async (c) => {
  const key = keyFromPath(new URL(c.req.url).pathname);
  if (!key) throw notFound("File");
  const check = await checkFileUrl(c.env.FILE_URL_SECRET, key, c.req.query("exp"), c.req.query("sig"));
  if (check === "invalid") throw new ApiError(403, "invalid_signature", "This download link is not valid.");
  if (check === "expired") throw new ApiError(403, "link_expired", "This download link has expired; ask for a new one.");

  const range = c.req.header("range");
  let object: R2ObjectBody | R2Object | null;
  try {
    object = await c.env.FILES.get(key, range ? { range: c.req.raw.headers } : {});
  } catch {
    throw new ApiError(416, "range_not_satisfiable", "The requested byte range is not in this file.");
  }
  if (!object || !("body" in object)) throw notFound("File");

  const type = object.httpMetadata?.contentType ?? "application/octet-stream";
  // Only pictures and video open in the browser; everything else downloads.
  const inline = type.startsWith("image/") || type.startsWith("video/");
  const headers = new Headers({
    "Content-Type": type,
    "Content-Disposition": contentDisposition(inline ? "inline" : "attachment", object.customMetadata?.name ?? key.split("/").pop() ?? "file"),
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "private, max-age=300",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Accept-Ranges": "bytes",
    ETag: object.httpEtag,
  });
  const part = partOf(object);
  if (!part) return new Response(object.body, { status: 200, headers });
  headers.set("Content-Range", `bytes ${part.start}-${part.end}/${object.size}`);
  return new Response(object.body, { status: 206, headers });
});

/** The byte range R2 served, when it served less than the whole object. */
function partOf(object: R2Object): { start: number; end: number } | null {
  const r = object.range;
  if (!r) return null;
  let start: number;
  let length: number;
  if ("suffix" in r && r.suffix !== undefined) {
    length = Math.min(r.suffix, object.size);
    start = object.size - length;
  } else {
    start = "offset" in r && r.offset !== undefined ? r.offset : 0;
    length = "length" in r && r.length !== undefined ? r.length : object.size - start;
  }
  if (start === 0 && length >= object.size) return null;
  return { start, end: start + length - 1 };
}

fileRoutes.openAPIRegistry.registerPath({
  method: "get",
  path: "/files/{key}",
  summary: "Download a file through a signed URL (from POST /rooms/{roomId}/attachments/url); no cookie needed",
  tags: ["attachments"],
  request: {
    params: z.object({ key: z.string().openapi({ param: { name: "key", in: "path" }, description: "The object key; may contain slashes" }) }),
    query: z.object({ exp: z.string(), sig: z.string() }),
  },
  responses: {
    200: { description: "The file (206 for a Range request)", content: { "application/octet-stream": { schema: z.string().openapi({ format: "binary" }) } } },
    403: problem,
    404: problem,
  },
});
