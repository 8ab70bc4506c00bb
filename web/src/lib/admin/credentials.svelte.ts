// Write-only inbox credentials as a form edits them: which keys are set,
// new values typed in, and keys marked for removal. Values are never read back.
import { channel } from "../channels";

export interface CredentialRow {
  key: string;
  label: string;
  isSet: boolean;
  value: string;
  remove: boolean;
}

export const CREDENTIAL_KEY = /^[a-zA-Z][a-zA-Z0-9_]{0,63}$/;

export class CredentialDraft {
  rows = $state<CredentialRow[]>([]);

  constructor(kind: string, setKeys: string[] = []) {
    this.reset(kind, setKeys);
  }

  /** Rows for a kind's usual keys plus every key already stored; typed values survive. */
  reset(kind: string, setKeys: string[] = []) {
    const typed = new Map(this.rows.map((r) => [r.key, r.value]));
    const suggested = channel(kind)?.credentials ?? [];
    const keys = [...suggested.map((c) => c.key), ...setKeys.filter((k) => !suggested.some((c) => c.key === k))];
    this.rows = keys.map((key) => ({
      key,
      label: suggested.find((c) => c.key === key)?.label ?? key,
      isSet: setKeys.includes(key),
      value: typed.get(key) ?? "",
      remove: false,
    }));
  }

  /** Adds a custom key; returns an error message when the name is unusable. */
  add(key: string): string | null {
    if (!CREDENTIAL_KEY.test(key)) return "Use letters, digits and _, starting with a letter.";
    if (this.rows.some((r) => r.key === key)) return "That credential is already listed.";
    this.rows.push({ key, label: key, isSet: false, value: "", remove: false });
    return null;
  }

  /** Only what changed: new values, and null for removals. */
  changes(): Record<string, string | null> {
    const out: Record<string, string | null> = {};
    for (const r of this.rows) {
      if (r.remove && r.isSet) out[r.key] = null;
      else if (r.value !== "") out[r.key] = r.value;
    }
    return out;
  }

  /** For a new inbox: just the values given. */
  values(): Record<string, string> {
    return Object.fromEntries(this.rows.filter((r) => r.value !== "").map((r) => [r.key, r.value]));
  }
}
