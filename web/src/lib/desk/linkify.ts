// Plain text → text and link parts. Only http(s) links become anchors; the
// text itself is always rendered as text (never as HTML).
export type TextPart = { text: string; href?: string };

const URL_RE = /\b(?:https?:\/\/|www\.)[^\s<>"'`]+/gi;
const TRAILING = /[.,;:!?'"\]}>]+$/;

function trimUrl(raw: string): string {
  let url = raw.replace(TRAILING, "");
  // "(see https://x.y/a)" keeps its closing bracket outside; "https://x.y/a_(b)" keeps it inside.
  while (url.endsWith(")") && (url.match(/\(/g)?.length ?? 0) < (url.match(/\)/g)?.length ?? 0)) url = url.slice(0, -1).replace(TRAILING, "");
  return url;
}

function safeHref(text: string): string | undefined {
  try {
    const url = new URL(text.startsWith("www.") ? `https://${text}` : text);
    return url.protocol === "http:" || url.protocol === "https:" ? url.href : undefined;
  } catch {
    return undefined;
  }
}

export function linkify(text: string): TextPart[] {
  const parts: TextPart[] = [];
  let last = 0;
  for (const match of text.matchAll(URL_RE)) {
    const url = trimUrl(match[0]);
    const href = safeHref(url);
    if (!href) continue;
    const start = match.index;
    if (start > last) parts.push({ text: text.slice(last, start) });
    parts.push({ text: url, href });
    last = start + url.length;
  }
  if (last < text.length) parts.push({ text: text.slice(last) });
  return parts;
}
