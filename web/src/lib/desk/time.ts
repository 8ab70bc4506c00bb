// Times as the desk shows them: short relative ages in lists, clock times in
// the conversation, elapsed durations for the presence timer.

/** "now", "5m", "3h", "2d", then a date. */
export function ago(ts: number, now: number): string {
  const s = Math.max(0, Math.round((now - ts) / 1000));
  if (s < 45) return "now";
  const m = Math.round(s / 60);
  if (m < 60) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 7) return `${d}d`;
  return new Date(ts).toLocaleDateString(undefined, { month: "short", day: "numeric" });
}

/** 4:05, 1:02:09 */
export function elapsed(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const pad = (n: number) => String(n).padStart(2, "0");
  return h ? `${h}:${pad(m)}:${pad(s)}` : `${m}:${pad(s)}`;
}

export const clockTime = (ts: number) => new Date(ts).toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });

export const fullDate = (ts: number) => new Date(ts).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" });

/** Same calendar day? (Day separators in the timeline.) */
export const sameDay = (a: number, b: number) => new Date(a).toDateString() === new Date(b).toDateString();

export const dayLabel = (ts: number) => new Date(ts).toLocaleDateString(undefined, { weekday: "long", month: "long", day: "numeric" });
