// The one Worker: API, sockets, webhooks, and the desk as static assets.
import { Hono } from "hono";
import { assertSecrets, type Env } from "./env";
import { type AppEnv, jsonBodyLimit, newRouter, onError, requireSession, sameOriginForCookies } from "./http/app";
import { agentRoutes } from "./http/agents";
import { authRoutes } from "./http/auth";
import { errorBody } from "./http/errors";
import { fileRoutes } from "./http/files";
import { inboxRoutes } from "./http/inboxes";
import { socketRoutes } from "./http/sockets";
import { teamRoutes } from "./http/teams";
import { roomRoutes } from "./http/rooms";
import { archiveRoutes } from "./http/archive";
import { teamLiveRoutes } from "./http/team-live";
import { widgetRoutes } from "./http/widget";

export { ChatRoom } from "./rooms/chat-room";
export { TeamHub } from "./teams/team-hub";

const api = newRouter();
api.use("*", sameOriginForCookies);
api.use("*", jsonBodyLimit);
// Every resource router below needs a signed-in agent; auth routes guard themselves.
for (const prefix of ["/teams", "/team-directory", "/agents", "/inboxes", "/search", "/conversations"]) {
  api.use(prefix, requireSession);
  api.use(`${prefix}/*`, requireSession);
}
api.route("/", authRoutes);
api.route("/", teamRoutes);
api.route("/", teamLiveRoutes);
api.route("/", agentRoutes);
api.route("/", inboxRoutes);
api.route("/", roomRoutes);
api.route("/", widgetRoutes);
api.route("/", fileRoutes);
api.route("/", archiveRoutes);
api.doc31("/openapi.json", {
  openapi: "3.1.0",
  info: { title: "Edgedesk API", version: "1" },
  servers: [{ url: "/api/v1" }],
});
api.get("/health", (c) => c.json({ ok: true }));
api.notFound((c) => c.json(errorBody("not_found", `No API route ${c.req.method} ${c.req.path}.`), 404));
api.onError(onError);

const app = new Hono<AppEnv>();
app.use("*", async (c, next) => {
  assertSecrets(c.env);
  await next();
});
app.route("/api/v1", api);
app.all("/api/*", (c) => c.json(errorBody("not_found", `No API route ${c.req.method} ${c.req.path}.`), 404));
app.route("/ws", socketRoutes);
app.all("/ws/*", (c) => c.json(errorBody("not_found", "No such socket."), 404));
// Channel webhooks (WhatsApp, Messenger, …) mount here; until one matches, a JSON 404, never the SPA.
app.all("/webhooks/*", (c) => c.json(errorBody("not_found", `No webhook at ${c.req.path}.`), 404));
app.onError(onError);
// Everything else is the desk SPA (only reached when run_worker_first matched).
app.all("*", (c) => c.env.ASSETS.fetch(c.req.raw));

export default {
  fetch: app.fetch,
  async scheduled(_controller: ScheduledController, env: Env, ctx: ExecutionContext) {
    // Daily maintenance: expired sessions and stale login failures go.
    const now = Date.now();
    ctx.waitUntil(
      env.DB.batch([
        env.DB.prepare("DELETE FROM sessions WHERE expires_at < ?").bind(now),
        env.DB.prepare("DELETE FROM password_tokens WHERE expires_at < ?").bind(now),
        env.DB.prepare("DELETE FROM login_failures WHERE at < ?").bind(now - 15 * 60 * 1000),
      ]),
    );
  },
} satisfies ExportedHandler<Env>;
