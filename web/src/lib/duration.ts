// Thresholds are stored in seconds and shown to people in friendlier units.
export const UNITS = [
  { label: "seconds", seconds: 1 },
  { label: "minutes", seconds: 60 },
  { label: "hours", seconds: 3600 },
  { label: "days", seconds: 86400 },
] as const;

/** The largest unit that shows the value as a whole number. */
export function bestUnit(seconds: number, allowed: readonly number[] = UNITS.map((u) => u.seconds)): number {
  const fits = [...allowed].sort((a, b) => b - a).find((u) => seconds > 0 && seconds % u === 0);
  return fits ?? Math.min(...allowed);
}

export function formatDuration(seconds: number): string {
  const unit = UNITS.findLast((u) => seconds >= u.seconds && seconds % u.seconds === 0) ?? UNITS[0];
  const n = seconds / unit.seconds;
  return `${n} ${n === 1 ? unit.label.slice(0, -1) : unit.label}`;
}

export function formatDate(ms: number): string {
  return new Date(ms).toLocaleDateString(undefined, { year: "numeric", month: "short", day: "numeric" });
}
