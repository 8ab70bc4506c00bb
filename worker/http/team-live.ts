// The team hub over HTTP, for integrations without a desk socket: the live
// lists and presence, and the desk commands (status, panel, take, assign).
import { z } from "@hono/zod-openapi";
import { hubCommands } from "../protocol";
import { idParam, newRouter, route } from "./app";
import { ApiError, forbidden } from "./errors";
import { agentIdentity } from "./sockets";
import { loadTeam } from "./teams";

const HUB_STATUS: Record<string, 400 | 403 | 404 | 409> = { forbidden: 403, not_member: 403, not_found: 404, invalid_frame: 400 };

export const teamLiveRoutes = newRouter();

teamLiveRoutes.openapi(
  route({ method: "get", path: "/teams/{id}/live", summary: "Live lists (non-closed conversations) and presence, as the desk socket's snapshot", tag: "teams", params: idParam }),
  async (c) => {
    const { id } = c.req.valid("param");
    await loadTeam(c, id);
    const snapshot = await c.env.TEAM_HUB.get(c.env.TEAM_HUB.idFromName(id)).snapshotFor(agentIdentity(c.var.agent));
    if (!snapshot) throw forbidden("You are not a member of that team.");
    return c.json(snapshot, 200);
  },
);

for (const [type, segment] of [["status", "presence"], ["panel", "panel"], ["take", "take"], ["assign", "assign"]] as const) {
  const body = (hubCommands[type] as unknown as z.ZodObject<{ type: z.ZodLiteral<string> }>).omit({ type: true });
  teamLiveRoutes.openapi(
    route({ method: "post", path: `/teams/{id}/${segment}`, summary: `Desk command: ${type}`, tag: "teams", params: idParam, body }),
    async (c) => {
      const { id } = c.req.valid("param");
      await loadTeam(c, id);
      const refused = await c.env.TEAM_HUB.get(c.env.TEAM_HUB.idFromName(id)).perform(agentIdentity(c.var.agent), { ...(c.req.valid("json") as object), type });
      if (refused) throw new ApiError(HUB_STATUS[refused.code] ?? 409, refused.code, refused.message);
      return c.json({ ok: true }, 200);
    },
  );
}
