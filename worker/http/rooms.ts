// Everything a room socket can do, over HTTP for integrations (same checks:
// the room runs the command as the authenticated caller).
import { z } from "@hono/zod-openapi";
import { type QueueStatus, roomCommands } from "../protocol";
import { newRouter, route } from "./app";
import { resolveRoom, roomCaller, roomStub } from "./caller";
import { ApiError, notFound } from "./errors";

const roomParam = z.object({ roomId: z.string().min(3).max(200).openapi({ param: { name: "roomId", in: "path" }, example: "inboxId:contactKey" }) });
const readQuery = z.object({
  before: z.coerce.number().int().positive().optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** URL segment for each command (the frame `type` is implied by the path). */
const COMMAND_PATHS = {
  send: "messages",
  read: "read",
  join: "join",
  leave: "leave",
  assign: "assign",
  transfer: "transfer",
  setStatus: "status",
  close: "close",
  reopen: "reopen",
  flag: "flag",
  critical: "critical",
  rename: "rename",
  tags: "tags",
  merge: "merge",
  csat: "csat",
} as const satisfies Partial<Record<keyof typeof roomCommands, string>>;

export const roomRoutes = newRouter();

roomRoutes.openapi(
  route({ method: "get", path: "/rooms/{roomId}", summary: "A room's conversation and a page of messages (newest last)", tag: "rooms", params: roomParam, query: readQuery }),
  async (c) => {
    const { roomId } = c.req.valid("param");
    const { before, limit } = c.req.valid("query");
    const address = await resolveRoom(c.env, roomId);
    const who = await roomCaller(c, address);
    const state = await roomStub(c.env, address.roomId).read(who, address, before ?? null, limit);
    if (!state) throw notFound("Room");
    return c.json(state, 200);
  },
);

roomRoutes.openapi(
  route({ method: "get", path: "/rooms/{roomId}/queue", summary: "The conversation's place in its team's queue, the estimated wait, and whether any agent is available", tag: "rooms", params: roomParam }),
  async (c) => {
    const { roomId } = c.req.valid("param");
    const address = await resolveRoom(c.env, roomId);
    const who = await roomCaller(c, address);
    const result = await roomStub(c.env, address.roomId).perform(who, address, { type: "queue" });
    if (!result.ok) throw new ApiError(result.status as 400, result.code, result.message);
    return c.json((result as unknown as { queue: QueueStatus }).queue, 200);
  },
);

for (const [type, segment] of Object.entries(COMMAND_PATHS) as [keyof typeof COMMAND_PATHS, string][]) {
  // The frame type is implied by the path; the body is the rest of the frame.
  const body = (roomCommands[type] as unknown as z.ZodObject<{ type: z.ZodLiteral<string> }>).omit({ type: true });
  roomRoutes.openapi(
    route({ method: "post", path: `/rooms/{roomId}/${segment}`, summary: `Room command: ${type}`, tag: "rooms", params: roomParam, body, errors: type === "send" ? [429] : undefined }),
    async (c) => {
      const { roomId } = c.req.valid("param");
      const address = await resolveRoom(c.env, roomId);
      const who = await roomCaller(c, address);
      const result = await roomStub(c.env, address.roomId).perform(who, address, { ...(c.req.valid("json") as object), type });
      if (!result.ok) throw new ApiError(result.status as 400, result.code, result.message);
      return c.json({ ok: true, ...(result.message ? { message: result.message } : {}) }, 200);
    },
  );
}
