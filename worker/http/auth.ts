// Sign-in, sign-out, the current agent, and setting a password (invite link or change).
import { z } from "@hono/zod-openapi";
import { sha256Hex } from "../auth/crypto";
import { hashPassword, verifyPassword } from "../auth/password";
import { assertLoginAllowed, clearLoginFailures, passwordChecksOf, recordLoginFailure, signInsFrom, spendAttempt } from "../auth/rate-limit";
import { clientIp, createSession, endAllSessions, endSession } from "../auth/session";
import { sessionsEnded } from "../teams/hub-refresh";
import { newRouter, requireSession, route } from "./app";
import { ApiError, badRequest, unauthorized } from "./errors";

const loginBody = z.object({
  email: z.string().trim().toLowerCase().email("Enter a valid email address.").max(254),
  password: z.string().min(1, "Enter your password.").max(1000),
});
export const newPassword = z.string().min(10, "Use at least 10 characters.").max(200);
const setPasswordBody = z.object({ token: z.string().min(10).max(200), password: newPassword });
const changePasswordBody = z.object({ currentPassword: z.string().min(1).max(1000), password: newPassword });

export const authRoutes = newRouter();

authRoutes.openapi(
  route({ method: "post", path: "/auth/login", summary: "Sign in", tag: "auth", body: loginBody, errors: [429] }),
  async (c) => {
    const { email, password } = c.req.valid("json");
    const ip = clientIp(c.req.raw);
    const key = `${ip}|${email}`;
    await assertLoginAllowed(c.env, key);
    const giveBack = await spendAttempt(c.env, signInsFrom(ip));
    const agent = await c.env.DB.prepare("SELECT id, password_hash FROM agents WHERE email = ? AND active = 1")
      .bind(email)
      .first<{ id: string; password_hash: string | null }>();
    if (!(await verifyPassword(password, agent?.password_hash ?? null)) || !agent) {
      await recordLoginFailure(c.env, key);
      throw new ApiError(401, "invalid_credentials", "Email or password is wrong.");
    }
    await Promise.all([clearLoginFailures(c.env, key), giveBack()]);
    await createSession(c, agent.id);
    return c.json({ ok: true }, 200);
  },
);

authRoutes.openapi(route({ method: "post", path: "/auth/logout", summary: "Sign out (this browser's open desk closes too)", tag: "auth" }), async (c) => {
  const agentId = await endSession(c);
  if (agentId) await sessionsEnded(c.env, agentId);
  return c.json({ ok: true }, 200);
});

authRoutes.openapi(
  route({ method: "post", path: "/auth/set-password", summary: "Set a password from a one-time link", tag: "auth", body: setPasswordBody }),
  async (c) => {
    const { token, password } = c.req.valid("json");
    const id = await sha256Hex(token);
    const row = await c.env.DB.prepare("SELECT agent_id, expires_at, used_at FROM password_tokens WHERE id = ?")
      .bind(id)
      .first<{ agent_id: string; expires_at: number; used_at: number | null }>();
    if (!row || row.used_at || row.expires_at < Date.now()) throw badRequest("This link is invalid or has expired.");
    const now = Date.now();
    const hash = await hashPassword(password);
    // One batch (one transaction; D1 runs batches one after another), every statement guarded
    // on the token, so of two racing uses exactly one sets the password: the first statement
    // writes only while the token is unused, the second spends it, the third signs the agent
    // out everywhere only for the use that spent it.
    const [set] = await c.env.DB.batch([
      c.env.DB.prepare(
        "UPDATE agents SET password_hash = ?, updated_at = ? WHERE id = ? AND EXISTS (SELECT 1 FROM password_tokens WHERE id = ? AND used_at IS NULL AND expires_at >= ?)",
      ).bind(hash, now, row.agent_id, id, now),
      c.env.DB.prepare("UPDATE password_tokens SET used_at = ? WHERE id = ? AND used_at IS NULL").bind(now, id),
      c.env.DB.prepare("DELETE FROM sessions WHERE agent_id = ? AND EXISTS (SELECT 1 FROM password_tokens WHERE id = ? AND used_at = ?)").bind(row.agent_id, id, now),
    ]);
    if (!set.meta.changes) throw badRequest("This link is invalid or has expired.");
    await sessionsEnded(c.env, row.agent_id);
    return c.json({ ok: true }, 200);
  },
);

authRoutes.use("/me", requireSession);
authRoutes.use("/me/*", requireSession);

authRoutes.openapi(route({ method: "get", path: "/me", summary: "The signed-in agent", tag: "auth" }), (c) =>
  c.json({ agent: c.var.agent }, 200),
);

authRoutes.openapi(
  route({ method: "post", path: "/me/password", summary: "Change my password (ends every session)", tag: "auth", body: changePasswordBody, errors: [429] }),
  async (c) => {
    const { currentPassword, password } = c.req.valid("json");
    const agent = c.var.agent;
    // A stolen session must not become a way to guess the password.
    const giveBack = await spendAttempt(c.env, passwordChecksOf(agent.id));
    const row = await c.env.DB.prepare("SELECT password_hash FROM agents WHERE id = ?").bind(agent.id).first<{ password_hash: string | null }>();
    if (!(await verifyPassword(currentPassword, row?.password_hash ?? null))) throw unauthorized("Current password is wrong.");
    await giveBack();
    await c.env.DB.prepare("UPDATE agents SET password_hash = ?, updated_at = ? WHERE id = ?")
      .bind(await hashPassword(password), Date.now(), agent.id)
      .run();
    await endAllSessions(c.env, agent.id);
    await createSession(c, agent.id);
    // Every desk open elsewhere (a stolen cookie's too) closes; this browser's reconnects with the new session.
    await sessionsEnded(c.env, agent.id);
    return c.json({ ok: true }, 200);
  },
);
