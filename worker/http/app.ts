// Router factory and the middleware every API router shares: JSON errors,
// Origin checks on state changes, and the session guard.
import { OpenAPIHono, createRoute, z } from "@hono/zod-openapi";
import type { MiddlewareHandler } from "hono";
import { bodyLimit } from "hono/body-limit";
import { getCookie } from "hono/cookie";
import { HTTPException } from "hono/http-exception";
import { agentForToken, type CurrentAgent, SESSION_COOKIE } from "../auth/session";
import type { Env } from "../env";
import { ApiError, errorResponse, forbidden, unauthorized, validationError } from "./errors";

export type AppEnv = { Bindings: Env; Variables: { agent: CurrentAgent } };

export function newRouter() {
  return new OpenAPIHono<AppEnv>({
    // Validation failures share the house error shape, with per-field messages.
    defaultHook: (result, c) => {
      if (!result.success) return errorResponse(c, validationError(result.error));
    },
  });
}

export function onError(err: Error, c: Parameters<Parameters<OpenAPIHono<AppEnv>["onError"]>[0]>[1]) {
  if (err instanceof ApiError) return errorResponse(c, err);
  // hono's validator throws HTTPException(400) for an unparseable body.
  if (err instanceof HTTPException && err.status < 500) {
    const bad = err.status === 400;
    return errorResponse(c, new ApiError(err.status, bad ? "bad_json" : "bad_request", bad ? "The request body is not valid JSON." : err.message));
  }
  console.error(JSON.stringify({ level: "error", msg: "unhandled", path: c.req.path, error: String(err?.stack ?? err) }));
  return c.json({ error: { code: "internal", message: "Something went wrong on our side." } }, 500);
}

const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS"]);

/**
 * Cookie-authenticated state changes must come from our own origin. Browsers
 * always send Origin on non-GET fetches, so a missing Origin with a session
 * cookie is refused too; cookie-less calls (visitor tokens, webhooks) pass.
 */
export const sameOriginForCookies: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (!SAFE_METHODS.has(c.req.method) && getCookie(c, SESSION_COOKIE)) {
    const origin = c.req.header("origin");
    if (!origin || origin !== new URL(c.req.url).origin) throw forbidden("Cross-origin request refused.");
  }
  await next();
};

/**
 * JSON bodies over this are refused (413) before they are read: the largest a
 * client sends (a 16 KB message with its attachment refs, an inbox's bot) is a
 * small fraction of it, and a huge one must not be parsed into memory first.
 */
export const MAX_JSON_BYTES = 256 * 1024;
const limitJson = bodyLimit({
  maxSize: MAX_JSON_BYTES,
  onError: () => {
    throw new ApiError(413, "too_large", `The request body is over ${MAX_JSON_BYTES / 1024} KB.`);
  },
});
/** An attachment upload streams its file to R2 and has its own limits (files.ts). */
const UPLOAD_PATH = /\/rooms\/[^/]+\/attachments$/;

export const jsonBodyLimit: MiddlewareHandler<AppEnv> = async (c, next) => {
  if (SAFE_METHODS.has(c.req.method) || UPLOAD_PATH.test(c.req.path)) return next();
  return limitJson(c, next);
};

export const requireSession: MiddlewareHandler<AppEnv> = async (c, next) => {
  const agent = await agentForToken(c.env, getCookie(c, SESSION_COOKIE));
  if (!agent) throw unauthorized();
  c.set("agent", agent);
  await next();
};

type Method = "get" | "post" | "patch" | "put" | "delete";
type Obj = z.ZodObject<z.ZodRawShape>;
interface RouteSpec<P extends Obj | undefined, Q extends Obj | undefined, B extends z.ZodType | undefined> {
  method: Method;
  path: string;
  summary: string;
  tag: string;
  params?: P;
  query?: Q;
  body?: B;
  status?: 200 | 201;
  /** Error statuses the route answers besides the usual 400, 401, 403, 404 and 409 (and 413 with a body). */
  errors?: (429 | 503)[];
}

const errorSchema = z
  .object({ error: z.object({ code: z.string(), message: z.string(), fields: z.record(z.string(), z.string()).optional() }) })
  .openapi("Error");
const errorResponseSpec = { description: "Error", content: { "application/json": { schema: errorSchema } } };
const okResponse = { description: "OK", content: { "application/json": { schema: z.any() } } };

/** createRoute with the house defaults: JSON body, JSON answer, the error shape for 4xx. */
export function route<P extends Obj | undefined = undefined, Q extends Obj | undefined = undefined, B extends z.ZodType | undefined = undefined>(
  spec: RouteSpec<P, Q, B>,
) {
  return createRoute({
    method: spec.method,
    path: spec.path,
    summary: spec.summary,
    tags: [spec.tag],
    request: {
      params: spec.params as P extends Obj ? P : undefined,
      query: spec.query as Q extends Obj ? Q : undefined,
      body: (spec.body ? { required: true, content: { "application/json": { schema: spec.body } } } : undefined) as B extends z.ZodType
        ? { required: true; content: { "application/json": { schema: B } } }
        : undefined,
    },
    responses: {
      200: okResponse,
      201: okResponse,
      400: errorResponseSpec,
      401: errorResponseSpec,
      403: errorResponseSpec,
      404: errorResponseSpec,
      409: errorResponseSpec,
      // A body over MAX_JSON_BYTES (jsonBodyLimit).
      ...(spec.body ? { 413: errorResponseSpec } : {}),
      ...(Object.fromEntries((spec.errors ?? []).map((status) => [status, errorResponseSpec])) as Partial<Record<429 | 503, typeof errorResponseSpec>>),
    },
  });
}

export const pageQuery = z.object({
  page: z.coerce.number().int().min(1).max(100000).default(1),
  perPage: z.coerce.number().int().min(1).max(200).default(50),
});
export type PageQuery = z.infer<typeof pageQuery>;

export const idParam = z.object({ id: z.string().min(1).max(64).openapi({ param: { name: "id", in: "path" } }) });
