// Technical details recorded when a visitor connects (SPEC §2): browser, OS,
// IP, country and city from the edge, page URL, referrer, language.

export function visitorDetails(request: Request): Record<string, string> {
  const url = new URL(request.url);
  const ua = request.headers.get("user-agent") ?? "";
  const cf = (request as Request & { cf?: { country?: string; city?: string } }).cf;
  const details: Record<string, string> = {
    browser: browserOf(ua),
    os: osOf(ua),
    ip: request.headers.get("cf-connecting-ip") ?? "",
    country: cf?.country ?? request.headers.get("cf-ipcountry") ?? "",
    city: cf?.city ?? "",
    pageUrl: (url.searchParams.get("page") ?? "").slice(0, 500),
    referrer: (url.searchParams.get("referrer") ?? "").slice(0, 500),
    language: (request.headers.get("accept-language") ?? "").split(",")[0].trim().slice(0, 35),
  };
  for (const k of Object.keys(details)) if (!details[k]) delete details[k];
  return details;
}

// Order matters: Edge and Opera carry "Chrome" too, Chrome carries "Safari".
const BROWSERS: [RegExp, string][] = [
  [/Edg\/(\d+)/, "Edge"],
  [/OPR\/(\d+)/, "Opera"],
  [/Firefox\/(\d+)/, "Firefox"],
  [/Chrome\/(\d+)/, "Chrome"],
  [/Version\/(\d+).*Safari/, "Safari"],
];

function browserOf(ua: string): string {
  for (const [re, name] of BROWSERS) {
    const m = ua.match(re);
    if (m) return `${name} ${m[1]}`;
  }
  return ua ? "Other" : "";
}

function osOf(ua: string): string {
  if (/Windows NT/.test(ua)) return "Windows";
  if (/iPhone|iPad|iPod/.test(ua)) return "iOS";
  if (/Mac OS X/.test(ua)) return "macOS";
  if (/Android/.test(ua)) return "Android";
  if (/CrOS/.test(ua)) return "ChromeOS";
  if (/Linux/.test(ua)) return "Linux";
  return ua ? "Other" : "";
}
