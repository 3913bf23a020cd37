/**
 * HTTP/1.x for the static file server: a request-head parser over a byte
 * buffer (no allocation beyond the strings it returns), response-head
 * builders, the coarse clock with its IMF-fixdate string, and the small
 * pre-built error responses.
 *
 * Only what a static server needs is parsed out of the headers (Host,
 * Connection, conditional and range headers, body framing); the rest is
 * validated for syntax and skipped.
 */

/** Parse failures, as the status to answer with. */
export const INCOMPLETE = 0;

export interface Request {
  method: string;
  /** The request target's path part, raw (still %-encoded), without the query. */
  path: string;
  /** '?...' or ''. */
  query: string;
  /** 0 for HTTP/1.0, 1 for HTTP/1.1. */
  minor: number;
  keepAlive: boolean;
  host: string | undefined;
  ifNoneMatch: string | undefined;
  ifModifiedSince: string | undefined;
  range: string | undefined;
  ifRange: string | undefined;
  /** Body length to skip (Content-Length), 0 without one. */
  contentLength: number;
  /** Transfer-Encoding was present (a GET/HEAD with a chunked body is refused). */
  transferEncoding: boolean;
  /** Offset just past the head's blank line. */
  next: number;
}

/** tchar (RFC 9110 token characters) by code. */
const TCHAR = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~") TCHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) TCHAR[c] = 1;
for (let c = 65; c <= 90; c++) TCHAR[c] = 1;
for (let c = 97; c <= 122; c++) TCHAR[c] = 1;

const CRLFCRLF = Buffer.from('\r\n\r\n');

/** Where the head that starts at `start` ends (offset past CRLFCRLF), or -1 when not all in [start, end). */
export function headEnd(buf: Buffer, start: number, end: number): number {
  if (end - start < 4) return -1;
  const i = buf.indexOf(CRLFCRLF, start);
  return i < 0 || i + 4 > end ? -1 : i + 4;
}

function isToken(s: string, from: number, to: number): boolean {
  if (to <= from) return false;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

function trimOws(s: string, from: number, to: number): string {
  while (from < to && (s.charCodeAt(from) === 32 || s.charCodeAt(from) === 9)) from++;
  while (to > from && (s.charCodeAt(to - 1) === 32 || s.charCodeAt(to - 1) === 9)) to--;
  return s.slice(from, to);
}

/** Lower-case ASCII compare of s[from, from + lit.length) with a lower-case literal. */
function nameIs(s: string, from: number, lit: string): boolean {
  for (let i = 0; i < lit.length; i++) {
    if ((s.charCodeAt(from + i) | 0x20) !== lit.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * Parses the request head in buf[start, headEnd). Returns the request, or a
 * status to refuse it with: 400 (malformed), 505 (not HTTP/1.0 or 1.1).
 */
export function parseRequest(buf: Buffer, start: number, hend: number): Request | 400 | 505 {
  const s = buf.toString('latin1', start, hend - 2); // keep the last line's CRLF as a terminator
  const lineEnd = s.indexOf('\r\n');
  const sp1 = s.indexOf(' ');
  if (sp1 <= 0 || sp1 > lineEnd) return 400;
  const sp2 = s.indexOf(' ', sp1 + 1);
  if (sp2 < 0 || sp2 > lineEnd || sp2 === sp1 + 1) return 400;
  if (!isToken(s, 0, sp1)) return 400;
  // Version: exactly "HTTP/1.0" or "HTTP/1.1" (other well-formed versions: 505).
  if (lineEnd - sp2 - 1 !== 8 || !s.startsWith('HTTP/', sp2 + 1)) return 400;
  const major = s.charCodeAt(sp2 + 6) - 48;
  const minor = s.charCodeAt(sp2 + 8) - 48;
  if (s.charCodeAt(sp2 + 7) !== 46 || major < 0 || major > 9 || minor < 0 || minor > 9) return 400;
  if (major !== 1 || minor > 1) return 505;
  // Target: visible ASCII (no spaces, no controls); raw bytes >= 0x80 are allowed (decoded as UTF-8 later).
  let q = -1;
  for (let i = sp1 + 1; i < sp2; i++) {
    const c = s.charCodeAt(i);
    if (c <= 32 || c === 127) return 400;
    if (c === 63 /* ? */ && q < 0) q = i;
    if (c === 35 /* # */) return 400;
  }
  let path = q < 0 ? s.slice(sp1 + 1, sp2) : s.slice(sp1 + 1, q);
  const query = q < 0 ? '' : s.slice(q, sp2);
  if (path.charCodeAt(0) !== 47 /* / */) {
    // absolute-form (http://host/path) is accepted; anything else (authority-form, '*') is not for us.
    const m = /^https?:\/\/[^/]*/i.exec(path);
    if (m === null) return 400;
    path = path.slice(m[0].length) || '/';
    if (path.charCodeAt(0) !== 47) return 400;
  }

  const req: Request = {
    method: s.slice(0, sp1), path, query, minor, keepAlive: minor === 1, host: undefined,
    ifNoneMatch: undefined, ifModifiedSince: undefined, range: undefined, ifRange: undefined,
    contentLength: 0, transferEncoding: false, next: hend,
  };
  let hosts = 0;
  let cl = -1;
  let pos = lineEnd + 2;
  const n = s.length;
  while (pos < n) {
    let eol = s.indexOf('\r\n', pos);
    if (eol < 0) eol = n;
    const c0 = s.charCodeAt(pos);
    if (c0 === 32 || c0 === 9) return 400; // obsolete line folding
    const colon = s.indexOf(':', pos);
    if (colon < 0 || colon > eol || !isToken(s, pos, colon)) return 400;
    for (let i = colon + 1; i < eol; i++) {
      const c = s.charCodeAt(i);
      if ((c < 32 && c !== 9) || c === 127) return 400;
    }
    switch (colon - pos) {
      case 4:
        if (nameIs(s, pos, 'host')) {
          hosts++;
          req.host = trimOws(s, colon + 1, eol);
        }
        break;
      case 5:
        if (nameIs(s, pos, 'range')) req.range = trimOws(s, colon + 1, eol);
        break;
      case 8:
        if (nameIs(s, pos, 'if-range')) req.ifRange = trimOws(s, colon + 1, eol);
        break;
      case 10:
        if (nameIs(s, pos, 'connection')) {
          const v = s.slice(colon + 1, eol).toLowerCase();
          if (/(?:^|[\s,])close(?:$|[\s,])/.test(v)) req.keepAlive = false;
          else if (minor === 0 && /(?:^|[\s,])keep-alive(?:$|[\s,])/.test(v)) req.keepAlive = true;
        }
        break;
      case 13:
        if (nameIs(s, pos, 'if-none-match')) {
          const v = trimOws(s, colon + 1, eol);
          req.ifNoneMatch = req.ifNoneMatch === undefined ? v : `${req.ifNoneMatch}, ${v}`;
        }
        break;
      case 14:
        if (nameIs(s, pos, 'content-length')) {
          const v = trimOws(s, colon + 1, eol);
          if (!/^\d{1,15}$/.test(v)) return 400;
          const len = Number(v);
          if (cl >= 0 && cl !== len) return 400;
          cl = len;
        }
        break;
      case 17:
        if (nameIs(s, pos, 'if-modified-since')) req.ifModifiedSince = trimOws(s, colon + 1, eol);
        else if (nameIs(s, pos, 'transfer-encoding')) req.transferEncoding = true;
        break;
    }
    pos = eol + 2;
  }
  if (hosts > 1 || (minor === 1 && hosts === 0)) return 400;
  if (cl > 0) req.contentLength = cl;
  return req;
}

// ---- dates ------------------------------------------------------------------

/** IMF-fixdate (RFC 9110 5.6.7), e.g. "Sun, 06 Nov 1994 08:49:37 GMT": always 29 characters. */
export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

/** Parses an HTTP date; NaN when it is not one. */
export function parseHttpDate(s: string): number {
  const t = Date.parse(s);
  return Number.isFinite(t) ? t : NaN;
}

/**
 * A coarse clock: `now` (ms) and `date` (the Date header value) are updated
 * by the server's ticker, so a request reads the time without a syscall.
 * `second` changes whenever `date` does (cached responses compare it).
 */
export class Clock {
  now = Date.now();
  second = Math.floor(this.now / 1000);
  date = httpDate(this.now);

  update(): void {
    this.now = Date.now();
    const s = Math.floor(this.now / 1000);
    if (s !== this.second) {
      this.second = s;
      this.date = httpDate(s * 1000);
    }
  }
}

// ---- response heads --------------------------------------------------------------

export const REASONS: Record<number, string> = {
  200: 'OK', 206: 'Partial Content', 301: 'Moved Permanently', 304: 'Not Modified', 400: 'Bad Request',
  403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout', 416: 'Range Not Satisfiable',
  431: 'Request Header Fields Too Large', 500: 'Internal Server Error', 503: 'Service Unavailable',
  505: 'HTTP Version Not Supported',
};

/**
 * The Connection header for a response: '' (HTTP/1.1 keep-alive, the default),
 * 'Connection: keep-alive' (HTTP/1.0 that asked for it) or 'Connection: close'.
 */
export function connectionHeader(minor: number, keepAlive: boolean): string {
  if (!keepAlive) return 'Connection: close\r\n';
  return minor === 0 ? 'Connection: keep-alive\r\n' : '';
}

/** A response head: status line, Server, Date, the given header lines (each ending CRLF), the blank line. */
export function head(status: number, date: string, lines: string): string {
  return `HTTP/1.1 ${status} ${REASONS[status] ?? 'Unknown'}\r\nServer: uringkit\r\nDate: ${date}\r\n${lines}\r\n`;
}

/** A small complete error response (text/html body unless HEAD). */
export function errorResponse(status: number, date: string, conn: string, extra = '', isHead = false): Buffer {
  const reason = REASONS[status] ?? 'Error';
  const body = `<!doctype html><title>${status} ${reason}</title><h1>${status} ${reason}</h1>\n`;
  const h = head(status, date,
    `Content-Type: text/html; charset=utf-8\r\nContent-Length: ${body.length}\r\n${extra}${conn}`);
  return Buffer.from(isHead ? h : h + body, 'latin1');
}

// ---- validators and ranges -----------------------------------------------------------

/** Weak comparison of an If-None-Match list against `etag` ('*' matches anything). */
export function etagMatches(list: string, etag: string): boolean {
  const bare = etag.startsWith('W/') ? etag.slice(2) : etag;
  for (const raw of list.split(',')) {
    const t = raw.trim();
    if (t === '*') return true;
    const b = t.startsWith('W/') ? t.slice(2) : t;
    if (b === bare) return true;
  }
  return false;
}

/** A single satisfiable range [start, end] (inclusive), 'none' (ignore: 200), or 'unsatisfiable' (416). */
export type RangeResult = { start: number; end: number } | 'none' | 'unsatisfiable';

/**
 * Parses a Range header against a representation of `size` bytes. Only one
 * range is honoured: several ranges, other units or bad syntax answer the
 * whole representation (RFC 9110 allows ignoring Range).
 */
export function parseRange(header: string, size: number): RangeResult {
  const m = /^bytes[ \t]*=[ \t]*(\d*)[ \t]*-[ \t]*(\d*)[ \t]*$/i.exec(header);
  if (m === null) return 'none';
  const a = m[1]!, b = m[2]!;
  if (a === '' && b === '') return 'none';
  if (a === '') {
    // suffix range: the last b bytes
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    if (size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(a);
  let end = b === '' ? size - 1 : Number(b);
  if (b !== '' && end < start) return 'none'; // invalid range-spec: ignore the header
  if (start >= size) return 'unsatisfiable';
  if (end >= size) end = size - 1;
  return { start, end };
}
