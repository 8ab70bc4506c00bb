// Business hours (SPEC §6): is the team open at a moment, and when does that
// next change. Pure functions over the team's weekly schedule, read in the
// team's IANA time zone with Intl (workerd ships full ICU, no tz library).
import type { TeamSettings } from "../settings";

export type BusinessHours = TeamSettings["businessHours"];

interface LocalTime {
  /** YYYY-MM-DD in the team's zone (what holidays are written in). */
  date: string;
  /** 0 = Sunday … 6 = Saturday, like the schedule's keys. */
  weekday: number;
  /** Minutes since local midnight. */
  minutes: number;
}

const WEEKDAYS: Record<string, number> = { Sun: 0, Mon: 1, Tue: 2, Wed: 3, Thu: 4, Fri: 5, Sat: 6 };
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    try {
      // hourCycle h23: "en-US" with hour12:false prints midnight as "24".
      f = new Intl.DateTimeFormat("en-US", {
        timeZone, hourCycle: "h23", weekday: "short", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
      });
    } catch {
      // The settings schema does not validate zone names; a typo must not take
      // the hub down, so an unknown zone reads as UTC.
      f = formatter("UTC");
    }
    formatters.set(timeZone, f);
  }
  return f;
}

function localParts(at: number, timeZone: string) {
  const parts: Record<string, string> = {};
  for (const p of formatter(timeZone).formatToParts(at)) parts[p.type] = p.value;
  return { year: +parts.year, month: +parts.month, day: +parts.day, hour: +parts.hour, minute: +parts.minute, weekday: WEEKDAYS[parts.weekday] };
}

export function localTime(at: Date, timeZone: string): LocalTime {
  const p = localParts(at.getTime(), timeZone);
  const date = `${p.year}-${String(p.month).padStart(2, "0")}-${String(p.day).padStart(2, "0")}`;
  return { date, weekday: p.weekday, minutes: p.hour * 60 + p.minute };
}

const toMinutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
const rangesOf = (hours: BusinessHours, weekday: number) => hours.weekly[String(weekday) as keyof BusinessHours["weekly"]] ?? [];

/**
 * Open at `at`? Disabled hours mean always open. A range whose end is not
 * after its start runs past midnight (22:00–02:00; 00:00–00:00 is all day),
 * and its early-morning part belongs to the day it started on. A holiday
 * closes the whole local date.
 */
export function isOpen(hours: BusinessHours, at: Date): boolean {
  if (!hours.enabled) return true;
  const t = localTime(at, hours.timezone);
  if (hours.holidays.includes(t.date)) return false;
  for (const r of rangesOf(hours, t.weekday)) {
    const start = toMinutes(r.start);
    const end = toMinutes(r.end);
    if (end > start ? t.minutes >= start && t.minutes < end : t.minutes >= start) return true;
  }
  for (const r of rangesOf(hours, (t.weekday + 6) % 7)) {
    const start = toMinutes(r.start);
    const end = toMinutes(r.end);
    if (end <= start && t.minutes < end) return true;
  }
  return false;
}

/** The instant local wall time `minutes` on `date` happens in `timeZone` (DST gaps land near the gap). */
export function zonedInstant(date: string, minutes: number, timeZone: string): number {
  const [y, m, d] = date.split("-").map(Number);
  const wall = Date.UTC(y, m - 1, d, 0, minutes);
  let guess = wall;
  // Two rounds of "shift by the zone's offset at the guess" settle every real zone.
  for (let i = 0; i < 2; i++) {
    const p = localParts(guess, timeZone);
    const offset = Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute) - guess;
    guess = wall - offset;
  }
  return guess;
}

function addDays(date: string, days: number): string {
  const [y, m, d] = date.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + days)).toISOString().slice(0, 10);
}

/**
 * When isOpen next changes after `from`, or null when it never does (hours
 * disabled). The state only changes at a range boundary or a local midnight,
 * so only those instants are tried. Past a week with no change (a long
 * holiday run) it answers "check again in a day".
 */
export function nextSwitch(hours: BusinessHours, from: Date): number | null {
  if (!hours.enabled) return null;
  const openNow = isOpen(hours, from);
  const marks = new Set<number>([0]);
  for (const day of Object.values(hours.weekly)) for (const r of day ?? []) marks.add(toMinutes(r.start)).add(toMinutes(r.end));
  const sorted = [...marks].sort((a, b) => a - b);
  const today = localTime(from, hours.timezone).date;
  for (let d = 0; d <= 8; d++) {
    const date = addDays(today, d);
    for (const minutes of sorted) {
      const at = zonedInstant(date, minutes, hours.timezone);
      if (at > from.getTime() && isOpen(hours, new Date(at)) !== openNow) return at;
    }
  }
  return from.getTime() + 86_400_000;
}
