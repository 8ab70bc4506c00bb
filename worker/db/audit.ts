// Audit trail of admin changes (SPEC §12). Secrets are never written here.
import type { Context } from "hono";
import { clientIp } from "../auth/session";
import type { AppEnv } from "../http/app";

export function auditStatement(
  c: Context<AppEnv>,
  action: string,
  targetType: string,
  targetId: string | null,
  details: Record<string, unknown> = {},
): D1PreparedStatement {
  return c.env.DB.prepare(
    "INSERT INTO audit_log (actor_id, action, target_type, target_id, details, ip) VALUES (?, ?, ?, ?, ?, ?)",
  ).bind(c.var.agent?.id ?? null, action, targetType, targetId, JSON.stringify(details), clientIp(c.req.raw));
}
