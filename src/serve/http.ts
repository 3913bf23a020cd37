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

/** What scanHead found: the offset just past the head's blank line, or one of these. */
export const HEAD_INCOMPLETE = -1;
/** Not an HTTP/1.x request head: a bare LF, or a first line that does not start with a method token. */
export const HEAD_MALFORMED = -2;
/** The longest method token looked for before the first space (longer: not a request we answer). */
const MAX_METHOD = 24;

/**
 * Finds the end of the request head that starts at `start`, looking only at
 * the bytes in [start + scanned, end) that were not looked at before (so a
 * head trickled in byte by byte costs linear time in all). Every LF must
 * follow a CR, and the request line must begin with a method token followed
 * by a space within MAX_METHOD bytes: anything else (a bare-LF client, a TLS
 * ClientHello, binary noise) is HEAD_MALFORMED at once, without waiting for a
 * blank line that may never come. Returns the head's end offset,
 * HEAD_INCOMPLETE or HEAD_MALFORMED.
 */
export function scanHead(buf: Buffer, start: number, scanned: number, end: number): number {
  // The method: a constant amount of work, looked at again on each call until its space arrived.
  const m = Math.min(end, start + MAX_METHOD + 1);
  let i = start;
  for (; i < m; i++) {
    const c = buf[i]!;
    if (c === 32) break;
    if (c >= 128 || TCHAR[c] === 0) return HEAD_MALFORMED;
  }
  if (i === start + MAX_METHOD + 1 || (i < end && i === start)) return HEAD_MALFORMED;
  const view = end === buf.length ? buf : buf.subarray(0, end); // indexOf must not look past `end`
  for (let lf = view.indexOf(10, start + scanned); lf >= 0; lf = view.indexOf(10, lf + 1)) {
    if (lf === start || buf[lf - 1] !== 13) return HEAD_MALFORMED;
    // The first line is complete (no LF between start and it; the backward search stops at the
    // previous line, so all of them together cost one pass): it needs a second space (method SP
    // target SP version). An HTTP/0.9-style "GET /path" line is refused now, not after the header timeout.
    if (buf.lastIndexOf(10, lf - 1) < start) {
      const sp1 = view.indexOf(32, start);
      const sp2 = sp1 < 0 || sp1 >= lf ? -1 : view.indexOf(32, sp1 + 1);
      if (sp2 < 0 || sp2 >= lf) return HEAD_MALFORMED;
    }
    if (lf - 3 >= start && buf[lf - 2] === 10) return lf + 1; // CR LF CR LF (the LF before was checked)
  }
  return HEAD_INCOMPLETE;
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

/** The value of the ASCII digits s[from, to) (at least one), or -1 when there are none or another character. */
function decimal(s: string, from: number, to: number): number {
  if (to <= from) return -1;
  let v = 0;
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i) - 48;
    if (!(c >= 0 && c <= 9)) return -1;
    v = v * 10 + c;
  }
  return v;
}

/** Characters of a Host value (RFC 3986 reg-name / IP-literal, then ':' port): unreserved, sub-delims, ':', '[', ']', '%'. */
const HOST_CHAR = new Uint8Array(128);
for (const c of "-._~!$&'()*+,;=:[]%") HOST_CHAR[c.charCodeAt(0)] = 1;
for (let c = 48; c <= 57; c++) HOST_CHAR[c] = 1;
for (let c = 65; c <= 90; c++) HOST_CHAR[c] = 1;
for (let c = 97; c <= 122; c++) HOST_CHAR[c] = 1;

/** A Host value is empty (allowed by RFC 9112 3.2) or made of HOST_CHAR only (spaces, '/', '@', controls: 400, as nginx). */
function validHost(v: string): boolean {
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 128 || HOST_CHAR[c] === 0) return false;
  }
  return true;
}

const CONN_CLOSE = 1;
const CONN_KEEP_ALIVE = 2;

/** The Connection options in s[from, to) (a comma list of tokens, case-insensitive), one pass. */
function connectionOptions(s: string, from: number, to: number): number {
  let flags = 0;
  let i = from;
  while (i < to) {
    while (i < to && (s.charCodeAt(i) === 32 || s.charCodeAt(i) === 9 || s.charCodeAt(i) === 44)) i++;
    let j = i;
    while (j < to && s.charCodeAt(j) !== 44 && s.charCodeAt(j) !== 32 && s.charCodeAt(j) !== 9) j++;
    if (j - i === 5 && nameIs(s, i, 'close')) flags |= CONN_CLOSE;
    else if (j - i === 10 && nameIs(s, i, 'keep-alive')) flags |= CONN_KEEP_ALIVE;
    i = j;
  }
  return flags;
}

/**
 * Parses the request head in buf[start, hend) (hend from scanHead). Returns the request, or a
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
    const scheme = nameIs(path, 0, 'http://') ? 7 : nameIs(path, 0, 'https://') ? 8 : 0;
    if (scheme === 0) return 400;
    const slash = path.indexOf('/', scheme);
    path = slash < 0 ? '/' : path.slice(slash);
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
          if (!validHost(req.host)) return 400;
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
          const opt = connectionOptions(s, colon + 1, eol);
          if (opt & CONN_CLOSE) req.keepAlive = false;
          else if (minor === 0 && opt & CONN_KEEP_ALIVE) req.keepAlive = true;
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
          const len = v.length > 15 ? -1 : decimal(v, 0, v.length);
          if (len < 0) return 400;
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

// ---- response heads --------------------------------------------------------------

export const REASONS: Record<number, string> = {
  200: 'OK', 206: 'Partial Content', 301: 'Moved Permanently', 304: 'Not Modified', 400: 'Bad Request',
  403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 408: 'Request Timeout', 414: 'URI Too Long', 416: 'Range Not Satisfiable',
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

/** How many range-specs are looked at: one is honoured; a second means "several" (answered with 200). */
export const MAX_RANGES_PARSED = 2;

/**
 * Parses a Range header against a representation of `size` bytes, in one
 * pass that stops at the second range-spec (no regular expression, so the
 * work is linear in the header whatever it holds). Only one range is
 * honoured: several ranges, other units or bad syntax answer the whole
 * representation (RFC 9110 allows ignoring Range).
 */
export function parseRange(header: string, size: number): RangeResult {
  const n = header.length;
  if (n < 6 || !nameIs(header, 0, 'bytes')) return 'none';
  let i = skipOws(header, 5, n);
  if (header.charCodeAt(i) !== 61 /* = */) return 'none';
  let found: { a: number; b: number } | undefined;
  let specs = 0;
  i++;
  while (i < n) {
    i = skipOws(header, i, n);
    if (header.charCodeAt(i) === 44 /* , (an empty list element) */) {
      i++;
      continue;
    }
    if (i >= n) break;
    if (++specs === MAX_RANGES_PARSED) return 'none';
    let j = i;
    while (j < n && isDigit(header.charCodeAt(j))) j++;
    const a = j > i ? Number(header.slice(i, j)) : -1;
    i = skipOws(header, j, n);
    if (header.charCodeAt(i) !== 45 /* - */) return 'none';
    i = skipOws(header, i + 1, n);
    j = i;
    while (j < n && isDigit(header.charCodeAt(j))) j++;
    const b = j > i ? Number(header.slice(i, j)) : -1;
    i = skipOws(header, j, n);
    if (i < n && header.charCodeAt(i) !== 44) return 'none';
    if (a < 0 && b < 0) return 'none';
    found = { a, b };
  }
  if (found === undefined) return 'none';
  const { a, b } = found;
  if (a < 0) {
    // suffix range: the last b bytes
    if (b === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - b), end: size - 1 };
  }
  if (b >= 0 && b < a) return 'none'; // invalid range-spec: ignore the header
  if (a >= size) return 'unsatisfiable';
  return { start: a, end: b < 0 || b >= size ? size - 1 : b };
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function skipOws(s: string, i: number, n: number): number {
  while (i < n && (s.charCodeAt(i) === 32 || s.charCodeAt(i) === 9)) i++;
  return i;
}
