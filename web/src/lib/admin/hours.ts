// Business hours as the form edits them: one opening interval per weekday.
import type { BusinessHours, Weekday } from "../api";

export interface DayRow {
  day: Weekday;
  label: string;
  open: boolean;
  start: string;
  end: string;
  /** Extra intervals the API holds beyond the first; kept as they are. */
  extra: { start: string; end: string }[];
}

// Monday first, as people read a week; the API numbers Sunday 0.
const DAYS: [Weekday, string][] = [
  ["1", "Monday"],
  ["2", "Tuesday"],
  ["3", "Wednesday"],
  ["4", "Thursday"],
  ["5", "Friday"],
  ["6", "Saturday"],
  ["0", "Sunday"],
];

export function toRows(weekly: BusinessHours["weekly"]): DayRow[] {
  // Never configured: suggest office hours on weekdays rather than a closed week.
  const fresh = Object.keys(weekly).length === 0;
  return DAYS.map(([day, label]) => {
    const [first, ...extra] = weekly[day] ?? [];
    const open = fresh ? day !== "0" && day !== "6" : !!first;
    return { day, label, open, start: first?.start ?? "09:00", end: first?.end ?? "17:00", extra };
  });
}

export function fromRows(rows: DayRow[]): BusinessHours["weekly"] {
  return Object.fromEntries(rows.map((r) => [r.day, r.open ? [{ start: r.start, end: r.end }, ...r.extra] : []]));
}

export const parseHolidays = (text: string) =>
  text
    .split(/[\s,;]+/)
    .map((s) => s.trim())
    .filter(Boolean);

export const timeZones = (): string[] => {
  const intl = Intl as typeof Intl & { supportedValuesOf?: (key: string) => string[] };
  return intl.supportedValuesOf?.("timeZone") ?? [];
};
