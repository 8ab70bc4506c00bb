// Short messages in the corner: socket errors, notifications, results of
// actions that have no form to show them in. Errors stay until dismissed.
export interface Toast {
  id: number;
  tone: "error" | "info" | "success";
  message: string;
  action?: { label: string; run: () => void };
}

let nextId = 1;
export const toasts = $state<Toast[]>([]);

export function showToast(message: string, tone: Toast["tone"] = "error", action?: Toast["action"]): number {
  const id = nextId++;
  // The same error arriving twice in a row (a retried frame) is shown once.
  const last = toasts.at(-1);
  if (last && last.message === message && last.tone === tone) return last.id;
  toasts.push({ id, tone, message, action });
  if (toasts.length > 5) toasts.splice(0, toasts.length - 5);
  if (tone !== "error") setTimeout(() => dismissToast(id), 6000);
  return id;
}

export function dismissToast(id: number): void {
  const i = toasts.findIndex((t) => t.id === id);
  if (i >= 0) toasts.splice(i, 1);
}
