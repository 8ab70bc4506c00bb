// One error shape for every response: { error: { code, message, fields? } }.
import type { Context } from "hono";
import type { ContentfulStatusCode } from "hono/utils/http-status";
import type { z } from "zod";

export class ApiError extends Error {
  constructor(
    readonly status: ContentfulStatusCode,
    readonly code: string,
    message: string,
    readonly fields?: Record<string, string>,
    readonly headers?: Record<string, string>,
  ) {
    super(message);
  }
}

export const badRequest = (message: string, fields?: Record<string, string>) =>
  new ApiError(400, "bad_request", message, fields);
export const unauthorized = (message = "Sign in first.") => new ApiError(401, "unauthorized", message);
export const forbidden = (message = "You do not have permission to do that.") => new ApiError(403, "forbidden", message);
export const notFound = (what = "Resource") => new ApiError(404, "not_found", `${what} not found.`);
export const conflict = (message: string) => new ApiError(409, "conflict", message);

export function errorBody(code: string, message: string, fields?: Record<string, string>) {
  return { error: fields ? { code, message, fields } : { code, message } };
}

export function errorResponse(c: Context, err: ApiError) {
  return c.json(errorBody(err.code, err.message, err.fields), err.status, err.headers);
}

/** zod issues → `{ "field.path": "message" }`, the shape the desk shows next to inputs. */
export function fieldErrors(error: z.ZodError, under?: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const issue of error.issues) {
    const path = [...(under ? [under] : []), ...issue.path.map(String)];
    const key = path.length ? path.join(".") : "_";
    fields[key] ??= issue.message;
  }
  return fields;
}

/** `under`: the request field the parsed value sits in (its issues' paths are relative to it). */
export function validationError(error: z.ZodError, under?: string) {
  const fields = fieldErrors(error, under);
  const first = Object.entries(fields)[0];
  const message = first ? (first[0] === "_" ? first[1] : `${first[0]}: ${first[1]}`) : "Invalid input.";
  return new ApiError(400, "validation_failed", message, fields);
}
