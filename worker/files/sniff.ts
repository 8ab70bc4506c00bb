// What a file really is, from its first bytes (SPEC §3: "type is checked by
// content, not only by the declared name"). Only a prefix is ever looked at,
// so this works on the head of a stream without buffering the file.
import { ApiError } from "../http/errors";

export type FileKind = "image" | "video" | "audio" | "document";

export interface Sniffed {
  /** The detected MIME type. */
  type: string;
  /** Kinds this content can honestly be declared as; the first is the default. */
  kinds: readonly FileKind[];
  /** Printable UTF-8 (plain text, CSV, JSON, markup...). */
  text?: true;
}

export type SniffResult = Sniffed | { executable: true } | null;

/** How many leading bytes `sniff` wants (a tar header ends at 262, the rest is slack for text). */
export const SNIFF_BYTES = 4096;

const ascii = (s: string) => Uint8Array.from(s, (ch) => ch.charCodeAt(0));

function at(head: Uint8Array, offset: number, ...bytes: number[]): boolean {
  if (head.length < offset + bytes.length) return false;
  return bytes.every((b, i) => head[offset + i] === b);
}
const str = (head: Uint8Array, offset: number, s: string) => at(head, offset, ...ascii(s));

function contains(head: Uint8Array, needle: string, limit = head.length): boolean {
  const n = ascii(needle);
  const end = Math.min(limit, head.length) - n.length;
  outer: for (let i = 0; i <= end; i++) {
    for (let j = 0; j < n.length; j++) if (head[i + j] !== n[j]) continue outer;
    return true;
  }
  return false;
}

const image = (type: string): Sniffed => ({ type, kinds: ["image"] });
const audio = (type: string): Sniffed => ({ type, kinds: ["audio"] });
const video = (type: string): Sniffed => ({ type, kinds: ["video"] });
const doc = (type: string): Sniffed => ({ type, kinds: ["document"] });
/** Containers that carry either sound or pictures. */
const av = (type: string, first: "video" | "audio" = "video"): Sniffed => ({ type, kinds: first === "video" ? ["video", "audio"] : ["audio", "video"] });

/** ISO base media (MP4, MOV, HEIC, AVIF, M4A): the major brand says which. */
function isoBrand(brand: string): Sniffed {
  if (/^(heic|heix|heim|heis|hevc|hevx|mif1|msf1)$/.test(brand)) return image("image/heic");
  if (/^avi[fs]$/.test(brand)) return image("image/avif");
  if (/^M4[ABP] $/.test(brand)) return audio("audio/mp4");
  if (brand === "qt  ") return video("video/quicktime");
  if (brand.startsWith("3g")) return av("video/3gpp");
  return av("video/mp4");
}

const EXECUTABLE_MAGIC: readonly number[][] = [
  [0x4d, 0x5a], // MZ: Windows PE/DOS
  [0x7f, 0x45, 0x4c, 0x46], // ELF
  [0xfe, 0xed, 0xfa, 0xce], [0xfe, 0xed, 0xfa, 0xcf], [0xce, 0xfa, 0xed, 0xfe], [0xcf, 0xfa, 0xed, 0xfe], // Mach-O
  [0xca, 0xfe, 0xba, 0xbe], // Mach-O fat binary (also a Java class file)
  [0x00, 0x61, 0x73, 0x6d], // WebAssembly
  [0x23, 0x21], // #! script
];

/**
 * Detects the type of `head` (the first bytes of a file). `complete` says the
 * head is the whole file, so a multi-byte character cut at the end is an error.
 */
export function sniff(head: Uint8Array, complete: boolean): SniffResult {
  if (EXECUTABLE_MAGIC.some((m) => at(head, 0, ...m))) return { executable: true };
  // UTF-8 BOM before a shebang is still a script to a shell-ish reader.
  if (at(head, 0, 0xef, 0xbb, 0xbf, 0x23, 0x21)) return { executable: true };

  if (at(head, 0, 0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)) return image("image/png");
  if (at(head, 0, 0xff, 0xd8, 0xff)) return image("image/jpeg");
  if (str(head, 0, "GIF87a") || str(head, 0, "GIF89a")) return image("image/gif");
  if (str(head, 0, "RIFF")) {
    if (str(head, 8, "WEBP")) return image("image/webp");
    if (str(head, 8, "WAVE")) return audio("audio/wav");
    if (str(head, 8, "AVI ")) return video("video/x-msvideo");
    return null;
  }
  // BMP's "BM" is weak on its own: also require a known DIB header size.
  if (str(head, 0, "BM") && head.length >= 18 && [12, 40, 52, 56, 108, 124].includes(head[14] | (head[15] << 8)) && head[16] === 0 && head[17] === 0) {
    return image("image/bmp");
  }
  if (at(head, 0, 0x49, 0x49, 0x2a, 0x00) || at(head, 0, 0x4d, 0x4d, 0x00, 0x2a)) return image("image/tiff");
  if (str(head, 4, "ftyp") && head.length >= 12) return isoBrand(String.fromCharCode(...head.subarray(8, 12)));
  if (at(head, 0, 0x1a, 0x45, 0xdf, 0xa3)) return contains(head, "webm", 64) ? av("video/webm") : av("video/x-matroska");
  if (str(head, 0, "OggS")) return contains(head, "theora", 128) ? av("video/ogg") : av("audio/ogg", "audio");
  if (str(head, 0, "ID3")) return audio("audio/mpeg");
  if (str(head, 0, "fLaC")) return audio("audio/flac");
  if (head.length >= 2 && head[0] === 0xff) {
    if ((head[1] & 0xf6) === 0xf0) return audio("audio/aac"); // ADTS
    if ((head[1] & 0xe0) === 0xe0 && (head[1] & 0x06) !== 0) return audio("audio/mpeg"); // MPEG audio frame sync
  }

  if (str(head, 0, "%PDF-")) return doc("application/pdf");
  if (at(head, 0, 0x50, 0x4b, 0x03, 0x04) || at(head, 0, 0x50, 0x4b, 0x05, 0x06)) return doc("application/zip");
  if (at(head, 0, 0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1)) return doc("application/x-ole-storage");
  if (at(head, 0, 0x1f, 0x8b)) return doc("application/gzip");
  if (at(head, 0, 0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c)) return doc("application/x-7z-compressed");
  if (str(head, 0, "Rar!\x1a\x07")) return doc("application/vnd.rar");
  if (str(head, 0, "BZh")) return doc("application/x-bzip2");
  if (at(head, 0, 0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return doc("application/x-xz");
  if (str(head, 257, "ustar")) return doc("application/x-tar");
  if (str(head, 0, "{\\rtf")) return { type: "application/rtf", kinds: ["document"], text: true };

  if (isPrintableUtf8(head, complete)) return { type: "text/plain", kinds: ["document"], text: true };
  return null;
}

/** Valid UTF-8 without the control bytes that mark binary data (tab, newlines, form feed and ESC are fine). */
export function isPrintableUtf8(head: Uint8Array, complete: boolean): boolean {
  for (const b of head) {
    if ((b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0b && b !== 0x0c && b !== 0x0d && b !== 0x1b) || b === 0x7f) return false;
  }
  try {
    // A prefix may end inside a multi-byte character: `stream` tolerates that.
    new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(head, { stream: !complete });
    return true;
  } catch {
    return false;
  }
}

/** Text whose first non-blank character opens a JSON object or array. */
export function looksLikeJson(head: Uint8Array): boolean {
  for (let i = head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? 3 : 0; i < head.length; i++) {
    const b = head[i];
    if (b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d) continue;
    return b === 0x7b || b === 0x5b;
  }
  return false;
}

// ---------------------------------------------------------------------------
// Declared type versus content

const refused = (message: string) => new ApiError(415, "unsupported_media_type", message);

/** The declared Content-Type without parameters, or octet-stream when absent or malformed. */
export function normalizeType(raw: string | undefined | null): string {
  const type = (raw ?? "").split(";")[0].trim().toLowerCase();
  return /^[a-z0-9][a-z0-9!#$&^_.+-]{0,63}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}$/.test(type) ? type : "application/octet-stream";
}

export function declaredKind(type: string): FileKind {
  if (type.startsWith("image/")) return "image";
  if (type.startsWith("video/")) return "video";
  if (type.startsWith("audio/")) return "audio";
  return "document";
}

// Names Windows or macOS run on a double click, whatever their bytes say.
const EXECUTABLE_EXTENSIONS = new Set(
  "exe dll com scr pif cpl msi msp msc bat cmd ps1 psm1 vb vbs vbe js jse wsf wsh hta lnk reg scf jar apk app command sh".split(" "),
);

const ZIP_BASED = /^application\/(zip|x-zip-compressed|epub\+zip|vnd\.openxmlformats-officedocument\.[\w.+-]+|vnd\.oasis\.opendocument\.[\w.+-]+)$/;
/** Declared document types whose content we can recognise: the content must agree. */
function expectedFor(declared: string): string | "text" | undefined {
  if (declared === "application/pdf") return "application/pdf";
  if (ZIP_BASED.test(declared)) return "application/zip";
  if (declared === "application/gzip" || declared === "application/x-gzip") return "application/gzip";
  if (declared === "application/x-7z-compressed") return "application/x-7z-compressed";
  if (declared === "application/vnd.rar" || declared === "application/x-rar-compressed") return "application/vnd.rar";
  if (declared.startsWith("text/") || declared === "application/json" || declared === "application/rtf") return "text";
  return undefined;
}

const SAFE_TEXT = new Set(["text/csv", "text/markdown", "text/tab-separated-values", "text/calendar", "text/vcard"]);

export interface Checked {
  /** The type the file is stored and served as. */
  type: string;
  kind: FileKind;
}

/**
 * Checks a file's first bytes against its declared type and name; throws a
 * 415 with a message for the user when they disagree or the file
 * is an executable. The stored type comes from the content, never from a
 * declaration that could make a browser render it (HTML, SVG, XML stay text).
 */
export function checkContent(declared: string, name: string, head: Uint8Array, complete: boolean): Checked {
  // SVG is XML that browsers execute scripts in: refused as an image rather
  // than trusted to the download headers (it can still be zipped).
  if (declared === "image/svg+xml" || /\.svgz?$/i.test(name)) throw refused("SVG images are not accepted because they can carry scripts. Send a PNG or JPEG, or zip the file.");
  const ext = name.match(/\.([^.]+)$/)?.[1]?.toLowerCase();
  if (ext && EXECUTABLE_EXTENSIONS.has(ext)) throw refused(`.${ext} files are not accepted: programs and scripts cannot be sent.`);
  const found = sniff(head, complete);
  if (found && "executable" in found) throw refused("Programs and scripts cannot be sent.");

  const wanted = declaredKind(declared);
  if (wanted !== "document") {
    if (!found?.kinds.includes(wanted)) throw refused(`${name} is declared as ${declared} but its content is not ${wanted === "image" ? "an image" : `a ${wanted}`} we recognise.`);
    // An audio-or-video container takes the kind it was declared as.
    return { type: found.type.replace(/^(video|audio)\//, `${wanted}/`), kind: wanted };
  }

  const expected = expectedFor(declared);
  if (expected === "text" ? !found?.text : expected && found?.type !== expected) {
    throw refused(`${name} is declared as ${declared} but its content is ${found ? found.type : "not recognised"}.`);
  }
  if (!found) return { type: "application/octet-stream", kind: "document" };
  if (found.text) {
    if (found.type !== "text/plain") return { type: found.type, kind: "document" };
    if (SAFE_TEXT.has(declared)) return { type: declared, kind: "document" };
    if (declared === "application/json" && looksLikeJson(head)) return { type: "application/json", kind: "document" };
    return { type: "text/plain", kind: "document" };
  }
  // A zip that says it is a docx/odt/epub keeps that more useful name.
  if (found.type === "application/zip" && ZIP_BASED.test(declared)) return { type: declared, kind: "document" };
  if (found.type === "application/x-ole-storage" && /^application\/(msword|vnd\.ms-[\w.-]+)$/.test(declared)) return { type: declared, kind: "document" };
  return { type: found.type, kind: found.kinds[0] };
}
