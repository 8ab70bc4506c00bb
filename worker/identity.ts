// Who is on the other end of a request or socket. The Worker authenticates
// (session cookie or visitor token) and forwards the result to a Durable
// Object in a header it sets itself, after stripping any copy the client sent.
import { z } from "zod";

export const agentIdentitySchema = z.object({
  kind: z.literal("agent"),
  agentId: z.string(),
  name: z.string(),
  role: z.enum(["admin", "agent"]),
  teams: z.array(z.object({ teamId: z.string(), role: z.enum(["manager", "agent"]) })),
});
export const visitorIdentitySchema = z.object({
  kind: z.literal("visitor"),
  inboxId: z.string(),
  contactKey: z.string(),
});
export const identitySchema = z.discriminatedUnion("kind", [agentIdentitySchema, visitorIdentitySchema]);
export type AgentIdentity = z.infer<typeof agentIdentitySchema>;
export type VisitorIdentity = z.infer<typeof visitorIdentitySchema>;
export type Identity = z.infer<typeof identitySchema>;

const IDENTITY_HEADER = "x-edgedesk-identity";
const INTERNAL_PREFIX = "x-edgedesk-";
/** A desk socket's session id (forwardWithIdentity's `session`), so the object can tell when it has ended. */
export const SESSION_HEADER = `${INTERNAL_PREFIX}session`;

/**
 * A copy of the request carrying `identity` (and other internal facts such as
 * the room address), with every client-sent internal header removed first.
 */
export function forwardWithIdentity(request: Request, identity: Identity, internal: Record<string, unknown> = {}): Request {
  const headers = new Headers(request.headers);
  for (const name of [...headers.keys()]) if (name.toLowerCase().startsWith(INTERNAL_PREFIX)) headers.delete(name);
  headers.set(IDENTITY_HEADER, JSON.stringify(identity));
  for (const [name, value] of Object.entries(internal)) headers.set(`${INTERNAL_PREFIX}${name}`, typeof value === "string" ? value : JSON.stringify(value));
  return new Request(request, { headers });
}

export function identityFrom(request: Request): Identity | null {
  const raw = request.headers.get(IDENTITY_HEADER);
  if (!raw) return null;
  try {
    const parsed = identitySchema.safeParse(JSON.parse(raw));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export const isTeamManager = (who: AgentIdentity, teamId: string) =>
  who.role === "admin" || who.teams.some((t) => t.teamId === teamId && t.role === "manager");
export const isTeamMember = (who: AgentIdentity, teamId: string) =>
  who.role === "admin" || who.teams.some((t) => t.teamId === teamId);
