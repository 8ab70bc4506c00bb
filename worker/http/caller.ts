// Who is calling a room endpoint: a signed-in agent (cookie) or a visitor
// (bearer visitor token), and which room a roomId names.
import type { Context } from "hono";
import { getCookie } from "hono/cookie";
import { agentForToken, SESSION_COOKIE } from "../auth/session";
import { verifyVisitorToken } from "../auth/visitor-token";
import type { Env } from "../env";
import type { AgentIdentity, Identity } from "../identity";
import { type RoomAddress, roomIdFor } from "../rpc";
import { badRequest, notFound, unauthorized } from "./errors";

export async function resolveRoom(env: Env, roomId: string): Promise<RoomAddress> {
  const at = roomId.indexOf(":");
  if (at <= 0 || at === roomId.length - 1 || roomId.length > 200) throw badRequest("A room id is <inboxId>:<contactKey>.");
  const inboxId = roomId.slice(0, at);
  const contactKey = roomId.slice(at + 1);
  const inbox = await env.DB.prepare("SELECT team_id FROM inboxes WHERE id = ?").bind(inboxId).first<{ team_id: string }>();
  if (!inbox) throw notFound("Room");
  return { roomId: roomIdFor(inboxId, contactKey), inboxId, teamId: inbox.team_id, contactKey };
}

export function roomStub(env: Env, roomId: string) {
  return env.CHAT_ROOM.get(env.CHAT_ROOM.idFromName(roomId));
}

export async function agentIdentityFor(env: Env, cookie: string | undefined): Promise<AgentIdentity | null> {
  const agent = await agentForToken(env, cookie);
  return agent ? { kind: "agent", agentId: agent.id, name: agent.name, role: agent.role, teams: agent.teams } : null;
}

/** The caller of a room endpoint, or 401. A visitor token only opens its own room. */
export async function roomCaller<E extends { Bindings: Env }>(c: Context<E>, address: RoomAddress): Promise<Identity> {
  const bearer = c.req.header("authorization")?.match(/^Bearer\s+(.+)$/i)?.[1];
  if (bearer) {
    const claims = await verifyVisitorToken(c.env.VISITOR_TOKEN_SECRET, bearer);
    if (!claims) throw unauthorized("Invalid or expired visitor token.");
    if (roomIdFor(claims.inboxId, claims.contactKey) !== address.roomId) throw notFound("Room");
    return { kind: "visitor", inboxId: claims.inboxId, contactKey: claims.contactKey };
  }
  const agent = await agentIdentityFor(c.env, getCookie(c, SESSION_COOKIE));
  if (!agent) throw unauthorized();
  return agent;
}
