// Visitor sessions for the web widget: a signed token bound to inbox + contact.
// Presenting a still-valid token keeps the same contact (and so the same room),
// which is how a conversation survives reloads; nobody can choose a contact key.
import { z } from "@hono/zod-openapi";
import { randomToken } from "../auth/crypto";
import { limit } from "../auth/fixed-window";
import { clientIp } from "../auth/session";
import { signVisitorToken, VISITOR_TOKEN_TTL_MS, verifyVisitorToken } from "../auth/visitor-token";
import { roomIdFor } from "../rpc";
import { newRouter, route } from "./app";
import { notFound } from "./errors";

const sessionParams = z.object({ inboxId: z.string().min(1).max(64).openapi({ param: { name: "inboxId", in: "path" } }) });
const sessionBody = z.object({ token: z.string().max(1000).optional() });

export const widgetRoutes = newRouter();

widgetRoutes.openapi(
  route({ method: "post", path: "/widget/{inboxId}/session", summary: "Start or resume a visitor session", tag: "widget", params: sessionParams, body: sessionBody }),
  async (c) => {
    const { inboxId } = c.req.valid("param");
    const { token } = c.req.valid("json");
    await limit(c.env, `session:${clientIp(c.req.raw)}`, 30, 60_000);
    const inbox = await c.env.DB.prepare("SELECT kind FROM inboxes WHERE id = ?").bind(inboxId).first<{ kind: string }>();
    if (!inbox || inbox.kind !== "web") throw notFound("Widget inbox");
    const previous = await verifyVisitorToken(c.env.VISITOR_TOKEN_SECRET, token);
    // A token from another inbox (or a forged one) does not carry over: new visitor.
    const contactKey = previous && previous.inboxId === inboxId ? previous.contactKey : `v_${randomToken(18)}`;
    const expiresAt = Date.now() + VISITOR_TOKEN_TTL_MS;
    const signed = await signVisitorToken(c.env.VISITOR_TOKEN_SECRET, { inboxId, contactKey, expiresAt });
    return c.json({ token: signed, contactKey, roomId: roomIdFor(inboxId, contactKey), expiresAt, resumed: !!previous && previous.inboxId === inboxId }, 200);
  },
);
