// The team hub over HTTP, for integrations without a desk socket: the live
// lists and presence, and the desk commands (status, panel, take, assign).
import { z } from "@hono/zod-openapi";
import { hubCommands } from "../protocol";
import { idParam, newRouter, route } from "./app";
import { ApiError, forbidden } from "./errors";
import { requireMember } from "../auth/access";
import { agentIdentity } from "./sockets";
import { loadTeam } from "./teams";

/**
 * The hub's refusal codes as HTTP statuses. `forbidden` is about the caller; `not_member` is
 * about the agent named in the command (not in this team: a conflict with the team as it is,
 * like `conflict`, `over_capacity`, `managers_join` and `agent_unavailable`, the 409 default);
 * `room_unavailable` means the chat room did not answer, so trying again shortly can work.
 */
const HUB_STATUS: Record<string, 400 | 403 | 404 | 409 | 503> = { invalid_frame: 400, forbidden: 403, not_found: 404, not_member: 409, room_unavailable: 503 };
const ROOM_RETRY_AFTER_SECONDS = "5";

export const teamLiveRoutes = newRouter();

teamLiveRoutes.openapi(
  route({ method: "get", path: "/teams/{id}/live", summary: "Live lists (non-closed conversations) and presence, as the desk socket's snapshot", tag: "teams", params: idParam }),
  async (c) => {
    const { id } = c.req.valid("param");
    await loadTeam(c, id);
    // Refused here, before the hub: an outsider's call must not wake (and set up) the team's hub.
    requireMember(c.var.agent, id);
    const snapshot = await c.env.TEAM_HUB.get(c.env.TEAM_HUB.idFromName(id)).snapshotFor(agentIdentity(c.var.agent));
    if (!snapshot) throw forbidden("You are not a member of that team.");
    return c.json(snapshot, 200);
  },
);

for (const [type, segment] of [["status", "presence"], ["panel", "panel"], ["take", "take"], ["assign", "assign"]] as const) {
  const body = (hubCommands[type] as unknown as z.ZodObject<{ type: z.ZodLiteral<string> }>).omit({ type: true });
  teamLiveRoutes.openapi(
    route({ method: "post", path: `/teams/{id}/${segment}`, summary: `Desk command: ${type}`, tag: "teams", params: idParam, body, errors: [503] }),
    async (c) => {
      const { id } = c.req.valid("param");
      await loadTeam(c, id);
      requireMember(c.var.agent, id);
      const refused = await c.env.TEAM_HUB.get(c.env.TEAM_HUB.idFromName(id)).perform(agentIdentity(c.var.agent), { ...(c.req.valid("json") as object), type });
      if (refused) {
        const status = HUB_STATUS[refused.code] ?? 409;
        throw new ApiError(status, refused.code, refused.message, undefined, status === 503 ? { "Retry-After": ROOM_RETRY_AFTER_SECONDS } : undefined);
      }
      return c.json({ ok: true }, 200);
    },
  );
}
