/**
 * HTTP dates (RFC 9110 5.6.7): the IMF-fixdate the server sends, a strict
 * parser for the three forms a recipient must accept, and the coarse clock
 * the server reads the time from.
 *
 * The parser is a fixed-position scanner: it looks at each character at most
 * once and allocates nothing, whatever the input.
 */

/** IMF-fixdate (RFC 9110 5.6.7), e.g. "Sun, 06 Nov 1994 08:49:37 GMT": always 29 characters. */
export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const LONG_DAYS = ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'];
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** The number in s[at, at + n) when those are all ASCII digits, else -1. */
function digits(s: string, at: number, n: number): number {
  let v = 0;
  for (let i = at; i < at + n; i++) {
    const c = s.charCodeAt(i) - 48;
    if (!(c >= 0 && c <= 9)) return -1;
    v = v * 10 + c;
  }
  return v;
}

function month(s: string, at: number): number {
  return MONTHS.indexOf(s.slice(at, at + 3));
}

/** "HH:MM:SS" at `at` as seconds of the day, or -1. */
function timeOfDay(s: string, at: number): number {
  if (s.charCodeAt(at + 2) !== 58 || s.charCodeAt(at + 5) !== 58) return -1;
  const h = digits(s, at, 2), m = digits(s, at + 3, 2), sec = digits(s, at + 6, 2);
  if (h < 0 || h > 23 || m < 0 || m > 59 || sec < 0 || sec > 60) return -1;
  return h * 3600 + m * 60 + sec;
}

function compose(year: number, mon: number, day: number, tod: number): number {
  if (mon < 0 || day < 1 || tod < 0) return NaN;
  const dim = new Date(Date.UTC(year, mon + 1, 0)).getUTCDate();
  if (day > dim) return NaN;
  return Date.UTC(year, mon, day) + tod * 1000;
}

/**
 * Parses an HTTP-date strictly: IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"),
 * or one of the two obsolete forms RFC 9110 says a recipient must accept:
 * rfc850-date ("Sunday, 06-Nov-94 08:49:37 GMT", a two-digit year more than
 * 50 years ahead of `now` meaning the century before) and asctime-date
 * ("Sun Nov  6 08:49:37 1994"). Returns ms since the epoch, or NaN for
 * anything else (no leniency: other spellings, time zones, or impossible
 * dates are not dates).
 */
export function parseHttpDate(s: string, now = Date.now()): number {
  const n = s.length;
  if (n === 29) {
    // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT"
    if (!DAYS.includes(s.slice(0, 3)) || s.slice(3, 5) !== ', ' || s.charCodeAt(7) !== 32 || s.charCodeAt(11) !== 32 ||
      s.charCodeAt(16) !== 32 || s.slice(25) !== ' GMT') return NaN;
    const day = digits(s, 5, 2), year = digits(s, 12, 4);
    if (day < 0 || year < 0) return NaN;
    return compose(year, month(s, 8), day, timeOfDay(s, 17));
  }
  if (n === 24) {
    // asctime-date: "Sun Nov  6 08:49:37 1994" (the day is space-padded)
    if (!DAYS.includes(s.slice(0, 3)) || s.charCodeAt(3) !== 32 || s.charCodeAt(7) !== 32 || s.charCodeAt(10) !== 32 ||
      s.charCodeAt(19) !== 32) return NaN;
    const day = s.charCodeAt(8) === 32 ? digits(s, 9, 1) : digits(s, 8, 2);
    const year = digits(s, 20, 4);
    if (day < 0 || year < 0) return NaN;
    return compose(year, month(s, 4), day, timeOfDay(s, 11));
  }
  // rfc850-date: "Sunday, 06-Nov-94 08:49:37 GMT"
  const comma = s.indexOf(',');
  if (comma < 6 || comma > 9 || !LONG_DAYS.includes(s.slice(0, comma)) || n !== comma + 24) return NaN;
  const at = comma + 2;
  if (s.charCodeAt(comma + 1) !== 32 || s.charCodeAt(at + 2) !== 45 || s.charCodeAt(at + 6) !== 45 ||
    s.charCodeAt(at + 9) !== 32 || s.slice(at + 18) !== ' GMT') return NaN;
  const day = digits(s, at, 2), yy = digits(s, at + 7, 2);
  if (day < 0 || yy < 0) return NaN;
  const thisYear = new Date(now).getUTCFullYear();
  let year = Math.floor(thisYear / 100) * 100 + yy;
  if (year > thisYear + 50) year -= 100;
  return compose(year, month(s, at + 3), day, timeOfDay(s, at + 10));
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
