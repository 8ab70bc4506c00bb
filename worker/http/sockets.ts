// WebSocket entry points. The Worker authenticates and authorizes the upgrade,
// then forwards the raw request to the Durable Object (hono's upgradeWebSocket
// does not use the hibernation API, so the object accepts the socket itself).
import { type Context, Hono } from "hono";
import { getCookie } from "hono/cookie";
import { isMemberOf } from "../auth/access";
import { type CurrentAgent, SESSION_COOKIE, sessionFor } from "../auth/session";
import type { Env } from "../env";
import { ApiError, errorResponse, forbidden, notFound, unauthorized } from "./errors";
import { type AgentIdentity, forwardWithIdentity } from "../identity";
import { verifyVisitorToken } from "../auth/visitor-token";
import { roomIdFor } from "../rpc";
import { resolveRoom, roomStub } from "./caller";

type SocketEnv = { Bindings: Env; Variables: { agent: CurrentAgent } };

export const agentIdentity = (a: CurrentAgent): AgentIdentity => ({
  kind: "agent",
  agentId: a.id,
  name: a.name,
  role: a.role,
  teams: a.teams,
});

export const socketRoutes = new Hono<SocketEnv>();

socketRoutes.onError((err, c) => (err instanceof ApiError ? errorResponse(c, err) : c.json({ error: { code: "internal", message: "Socket setup failed." } }, 500)));

socketRoutes.use("*", async (c, next) => {
  if (c.req.header("upgrade")?.toLowerCase() !== "websocket") throw new ApiError(426, "upgrade_required", "Open this URL as a WebSocket.");
  await next();
});

/**
 * Desk sockets ride on the session cookie, so they must come from the desk's
 * own origin (cross-site WebSocket hijacking); visitor sockets use a token.
 */
async function deskAgent(c: Context<SocketEnv>): Promise<{ agent: CurrentAgent; session: string }> {
  const origin = c.req.header("origin");
  if (origin && origin !== new URL(c.req.url).origin) throw forbidden("Cross-origin socket refused.");
  const session = await sessionFor(c.env, getCookie(c, SESSION_COOKIE));
  if (!session) throw unauthorized();
  // The socket outlives the request: it carries its session's id, so signing out closes it (see currentAccount).
  return { agent: session.agent, session: session.sessionId };
}

/** Desk socket for one team: lists, presence, queue, notifications. */
socketRoutes.get("/team/:teamId", async (c) => {
  const { agent, session } = await deskAgent(c);
  const teamId = c.req.param("teamId");
  if (!(await c.env.DB.prepare("SELECT 1 FROM teams WHERE id = ?").bind(teamId).first())) throw notFound("Team");
  if (!isMemberOf(agent, teamId)) throw forbidden("You are not a member of that team.");
  const hub = c.env.TEAM_HUB.get(c.env.TEAM_HUB.idFromName(teamId));
  return hub.fetch(forwardWithIdentity(c.req.raw, agentIdentity(agent), { team: teamId, session }));
});

/** Desk socket for one conversation room; the room checks team and visibility. */
socketRoutes.get("/room/:roomId", async (c) => {
  const { agent, session } = await deskAgent(c);
  const address = await resolveRoom(c.env, c.req.param("roomId"));
  return roomStub(c.env, address.roomId).fetch(forwardWithIdentity(c.req.raw, agentIdentity(agent), { room: address, session }));
});

/** Visitor socket: the token names the room, so a visitor can only reach their own. */
socketRoutes.get("/visitor", async (c) => {
  const claims = await verifyVisitorToken(c.env.VISITOR_TOKEN_SECRET, c.req.query("token"));
  if (!claims) throw unauthorized("Invalid or expired visitor token.");
  const address = await resolveRoom(c.env, roomIdFor(claims.inboxId, claims.contactKey));
  const identity = { kind: "visitor" as const, inboxId: claims.inboxId, contactKey: claims.contactKey };
  return roomStub(c.env, address.roomId).fetch(forwardWithIdentity(c.req.raw, identity, { room: address }));
});
