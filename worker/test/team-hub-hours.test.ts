import { describe, expect, it } from "vitest";
import { type BusinessHours, isOpen, nextSwitch } from "../teams/business-hours";

const hours = (h: Partial<BusinessHours>): BusinessHours => ({ enabled: true, timezone: "UTC", weekly: {}, holidays: [], ...h });
const at = (iso: string) => new Date(iso);
const weekdays = (start: string, end: string) => Object.fromEntries(["1", "2", "3", "4", "5"].map((d) => [d, [{ start, end }]]));

describe("business hours", () => {
  it("disabled hours are always open", () => {
    const h = hours({ enabled: false, weekly: {} });
    expect(isOpen(h, at("2026-11-01T03:00:00Z"))).toBe(true);
    expect(nextSwitch(h, at("2026-11-01T03:00:00Z"))).toBeNull();
  });

  it("a range is read in the team's time zone, start inclusive and end exclusive", () => {
    // Monday 2026-11-02, Berlin is UTC+1 in November.
    const h = hours({ timezone: "Europe/Berlin", weekly: { "1": [{ start: "09:00", end: "17:00" }] } });
    expect(isOpen(h, at("2026-11-02T07:59:00Z"))).toBe(false);
    expect(isOpen(h, at("2026-11-02T08:00:00Z"))).toBe(true);
    expect(isOpen(h, at("2026-11-02T15:59:00Z"))).toBe(true);
    expect(isOpen(h, at("2026-11-02T16:00:00Z"))).toBe(false);
  });

  it("summer time moves the opening by an hour in UTC", () => {
    // Monday 2026-07-06, Berlin is UTC+2.
    const h = hours({ timezone: "Europe/Berlin", weekly: { "1": [{ start: "09:00", end: "17:00" }] } });
    expect(isOpen(h, at("2026-07-06T06:59:00Z"))).toBe(false);
    expect(isOpen(h, at("2026-07-06T07:00:00Z"))).toBe(true);
  });

  it("the weekday is the team's local weekday, not UTC's", () => {
    // 03:00 UTC on Monday is 19:00 on Sunday in Los Angeles.
    const h = hours({ timezone: "America/Los_Angeles", weekly: { "0": [{ start: "10:00", end: "20:00" }] } });
    expect(isOpen(h, at("2026-11-02T03:00:00Z"))).toBe(true);
    expect(isOpen(h, at("2026-11-02T05:00:00Z"))).toBe(false);
  });

  it("a day without ranges is closed", () => {
    const h = hours({ weekly: weekdays("09:00", "17:00") });
    expect(isOpen(h, at("2026-11-01T12:00:00Z"))).toBe(false); // Sunday
  });

  it("a holiday closes the whole local date", () => {
    const h = hours({ timezone: "Europe/Berlin", weekly: { "1": [{ start: "00:00", end: "00:00" }], "0": [{ start: "00:00", end: "00:00" }] }, holidays: ["2026-11-02"] });
    expect(isOpen(h, at("2026-11-02T10:00:00Z"))).toBe(false);
    // 23:30 UTC on Sunday is already Monday 00:30 in Berlin: the holiday.
    expect(isOpen(h, at("2026-11-01T23:30:00Z"))).toBe(false);
    expect(isOpen(h, at("2026-11-01T22:30:00Z"))).toBe(true);
  });

  it("a range ending before it starts runs past midnight", () => {
    // Friday 2026-11-06 22:00 until Saturday 02:00.
    const h = hours({ weekly: { "5": [{ start: "22:00", end: "02:00" }] } });
    expect(isOpen(h, at("2026-11-06T21:59:00Z"))).toBe(false);
    expect(isOpen(h, at("2026-11-06T23:00:00Z"))).toBe(true);
    expect(isOpen(h, at("2026-11-07T01:30:00Z"))).toBe(true);
    expect(isOpen(h, at("2026-11-07T02:00:00Z"))).toBe(false);
  });

  it("the next switch after Friday's closing is Monday's opening", () => {
    const h = hours({ timezone: "Europe/Berlin", weekly: weekdays("09:00", "17:00") });
    expect(new Date(nextSwitch(h, at("2026-11-06T17:00:00Z"))!).toISOString()).toBe("2026-11-09T08:00:00.000Z");
    expect(new Date(nextSwitch(h, at("2026-11-09T09:00:00Z"))!).toISOString()).toBe("2026-11-09T16:00:00.000Z");
  });

  it("the next switch across the spring clock change lands on local opening time", () => {
    // Berlin moves to UTC+2 on Sunday 2026-03-29.
    const h = hours({ timezone: "Europe/Berlin", weekly: { "1": [{ start: "09:00", end: "17:00" }] } });
    expect(new Date(nextSwitch(h, at("2026-03-28T12:00:00Z"))!).toISOString()).toBe("2026-03-30T07:00:00.000Z");
  });

  it("the next switch after a holiday is the following opening", () => {
    const h = hours({ weekly: { "1": [{ start: "00:00", end: "00:00" }], "2": [{ start: "00:00", end: "00:00" }] }, holidays: ["2026-11-02"] });
    expect(new Date(nextSwitch(h, at("2026-11-02T12:00:00Z"))!).toISOString()).toBe("2026-11-03T00:00:00.000Z");
  });

  it("an unknown time zone reads as UTC instead of failing", () => {
    const h = hours({ timezone: "Mars/Olympus_Mons", weekly: { "1": [{ start: "09:00", end: "17:00" }] } });
    expect(isOpen(h, at("2026-11-02T09:30:00Z"))).toBe(true);
    expect(isOpen(h, at("2026-11-02T08:30:00Z"))).toBe(false);
  });
});
