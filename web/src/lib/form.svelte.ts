// Submission state for one form: busy flag, the top message and per-field
// messages from the API's `fields` (keys are field paths like "settings.overdueSeconds").
import { ApiError } from "./api";

export class FormState {
  busy = $state(false);
  message = $state("");
  fields = $state<Record<string, string>>({});

  /** The message for a field path, or for anything nested under it. */
  error(path: string): string | undefined {
    if (this.fields[path]) return this.fields[path];
    const nested = Object.keys(this.fields).find((k) => k.startsWith(path + "."));
    return nested ? this.fields[nested] : undefined;
  }

  clear() {
    this.message = "";
    this.fields = {};
  }

  /** Client-side problems found before sending anything. */
  fail(message: string, fields: Record<string, string> = {}) {
    this.message = message;
    this.fields = fields;
  }

  /** Runs a submission; API errors land in message/fields, the result (or undefined) is returned. */
  async run<T>(action: () => Promise<T>, describe: (err: ApiError) => string = (e) => e.message): Promise<T | undefined> {
    if (this.busy) return undefined;
    this.busy = true;
    this.clear();
    try {
      return await action();
    } catch (err) {
      if (!(err instanceof ApiError)) throw err;
      const onlyFields = err.code === "validation_failed" && Object.keys(err.fields).some((k) => k !== "_");
      this.message = onlyFields ? (err.fields._ ?? "Please fix the highlighted fields.") : describe(err);
      this.fields = err.fields;
      return undefined;
    } finally {
      this.busy = false;
    }
  }
}

/** The message for a denied admin action, kinder than the raw 403. */
export function describeError(err: ApiError): string {
  if (err.status === 403) return "You do not have permission to do that. Ask an admin.";
  return err.message;
}
