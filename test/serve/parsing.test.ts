/**
 * uringkit serve, the parsers on attacker input (issue 16 items 1 and 8):
 * every header the server reads is parsed in one linear pass (no
 * backtracking regular expression), the request head is scanned
 * incrementally, bare LF and non-HTTP bytes are refused at once, and HTTP
 * dates are parsed strictly.
 *
 * The linear-time tests feed megabyte inputs that the former regular
 * expressions needed ~10^11 steps for: they complete or hit the guard, which
 * is a hang guard, not a speed check.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { parseHttpDate } from '../../src/serve/http-date.js';
import { HEAD_INCOMPLETE, HEAD_MALFORMED, parseRange, parseRequest, scanHead } from '../../src/serve/http.js';

const GUARD = { timeout: 120_000 };
const MB = 1 << 20;

function req(text: string): ReturnType<typeof parseRequest> {
  const b = Buffer.from(text, 'latin1');
  const he = scanHead(b, 0, 0, b.length);
  assert.ok(he > 0, `scanHead(${JSON.stringify(text.slice(0, 40))}) = ${he}`);
  return parseRequest(b, 0, he);
}

describe('Range in linear time, at most two range-specs looked at', () => {
  test('1 MiB of spaces then a bad character: ignored (200), and it returns', GUARD, () => {
    assert.equal(parseRange(`bytes=${' '.repeat(MB)}x`, 100), 'none');
    assert.equal(parseRange(`bytes=0${' '.repeat(MB)}x`, 100), 'none');
    assert.equal(parseRange(`bytes=0-${' '.repeat(MB)}x`, 100), 'none');
    assert.deepEqual(parseRange(`bytes${' '.repeat(MB)}=0-1`, 100), { start: 0, end: 1 });
  });

  test('a megabyte of digits or of ranges', GUARD, () => {
    assert.equal(parseRange(`bytes=${'9'.repeat(MB)}-`, 100), 'unsatisfiable');
    assert.deepEqual(parseRange(`bytes=-${'9'.repeat(MB)}`, 100), { start: 0, end: 99 });
    assert.equal(parseRange(`bytes=${'0-1,'.repeat(MB / 4)}`, 100), 'none'); // several ranges: the whole file
    assert.deepEqual(parseRange(`bytes=${','.repeat(MB)}0-1`, 100), { start: 0, end: 1 }); // empty list elements
  });

  test('the accepted syntax is unchanged', () => {
    assert.deepEqual(parseRange('bytes=0-9', 100), { start: 0, end: 9 });
    assert.deepEqual(parseRange('BYTES = 5 - 6', 100), { start: 5, end: 6 });
    assert.deepEqual(parseRange('bytes=0-9,', 100), { start: 0, end: 9 });
    assert.equal(parseRange('bytes=0-1,5-6', 100), 'none');
    assert.equal(parseRange('bytes=-', 100), 'none');
    assert.equal(parseRange('bytes=1-2-3', 100), 'none');
    assert.equal(parseRange('bytes=0x10-', 100), 'none');
    assert.equal(parseRange('bytesx=0-1', 100), 'none');
    assert.equal(parseRange('bytes=-5', 0), 'unsatisfiable');
  });
});

describe('the request head', () => {
  test('headers of a megabyte each are parsed in one pass', GUARD, () => {
    const long = ' '.repeat(MB);
    const r = req(`GET /x HTTP/1.1\r\nHost: a\r\nConnection:${long}x${long}close\r\nIf-None-Match: ${'"a", '.repeat(MB / 5)}` +
      `"b"\r\nIf-Range:${long}"c"\r\nAccept-Encoding: ${'gzip;q=0.1, '.repeat(MB / 12)}\r\nContent-Length:${long}0\r\n\r\n`);
    assert.ok(typeof r === 'object');
    assert.equal(r.keepAlive, false);
    assert.equal(r.ifRange, '"c"');
    assert.equal(r.contentLength, 0);
    // The request line: a megabyte target, and an absolute-form one.
    const t = req(`GET http://${'h'.repeat(MB)}/p HTTP/1.1\r\nHost: a\r\n\r\n`);
    assert.ok(typeof t === 'object');
    assert.equal(t.path, '/p');
    const u = req(`GET /${'a'.repeat(MB)} HTTP/1.1\r\nHost: a\r\n\r\n`);
    assert.ok(typeof u === 'object' && u.path.length === MB + 1);
  });

  test('Connection options are tokens of a comma list', () => {
    const opt = (v: string): boolean => {
      const r = req(`GET / HTTP/1.1\r\nHost: a\r\nConnection: ${v}\r\n\r\n`);
      assert.ok(typeof r === 'object');
      return r.keepAlive;
    };
    assert.equal(opt('close'), false);
    assert.equal(opt('Keep-Alive, CLOSE'), false);
    assert.equal(opt('upgrade,close'), false);
    assert.equal(opt('closed'), true);
    assert.equal(opt('xclose'), true);
    const k = req('GET / HTTP/1.0\r\nConnection: foo, keep-alive\r\n\r\n');
    assert.ok(typeof k === 'object' && k.keepAlive);
  });

  test('a head trickled in one byte at a time is found once, with each byte looked at once', () => {
    const text = Buffer.from('GET /hello.txt HTTP/1.1\r\nHost: a\r\nX: y\r\n\r\n');
    let scanned = 0;
    for (let end = 1; end < text.length; end++) {
      assert.equal(scanHead(text, 0, scanned, end), HEAD_INCOMPLETE, `at ${end}`);
      scanned = end;
    }
    assert.equal(scanHead(text, 0, scanned, text.length), text.length);
    // From an offset inside a bigger buffer (pipelined requests).
    const two = Buffer.concat([text, text]);
    assert.equal(scanHead(two, text.length, 0, two.length), two.length);
  });

  test('bare LF and non-HTTP bytes are malformed at once, before any blank line', () => {
    const bad = [
      'GET / HTTP/1.1\nHost: a\n\n',
      'GET / HTTP/1.1\r\nHost: a\n',
      'GET / HTTP/1.1\r\nHost: a\r\n\n',
      '\n',
      ' GET / HTTP/1.1\r\n',
      '\r\nGET / HTTP/1.1\r\n',
      `${'A'.repeat(40)} / HTTP/1.1`, // no method is that long
    ];
    for (const t of bad) assert.equal(scanHead(Buffer.from(t, 'latin1'), 0, 0, t.length), HEAD_MALFORMED, JSON.stringify(t));
    // A TLS ClientHello (record type 0x16, version 3.1): the first byte is not a token character.
    const hello = Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]);
    assert.equal(scanHead(hello, 0, 0, hello.length), HEAD_MALFORMED);
    assert.equal(scanHead(hello, 0, 0, 1), HEAD_MALFORMED); // one byte is enough
    // Incomplete but plausible so far: wait for more.
    assert.equal(scanHead(Buffer.from('GE'), 0, 0, 2), HEAD_INCOMPLETE);
    assert.equal(scanHead(Buffer.from('GET / HTTP/1.1\r'), 0, 0, 15), HEAD_INCOMPLETE);
  });
});

describe('HTTP dates, strictly', () => {
  const T = Date.UTC(1994, 10, 6, 8, 49, 37);
  test('the three forms of RFC 9110', () => {
    assert.equal(parseHttpDate('Sun, 06 Nov 1994 08:49:37 GMT'), T);
    assert.equal(parseHttpDate('Sunday, 06-Nov-94 08:49:37 GMT', Date.UTC(2026, 0, 1)), T);
    assert.equal(parseHttpDate('Sun Nov  6 08:49:37 1994'), T);
    assert.equal(parseHttpDate('Thu Nov 26 08:49:37 1994'), Date.UTC(1994, 10, 26, 8, 49, 37));
    // A two-digit year more than 50 years ahead is the century before.
    assert.equal(parseHttpDate('Monday, 01-Jan-80 00:00:00 GMT', Date.UTC(2026, 0, 1)), Date.UTC(1980, 0, 1));
    assert.equal(parseHttpDate('Monday, 01-Jan-40 00:00:00 GMT', Date.UTC(2026, 0, 1)), Date.UTC(2040, 0, 1));
  });

  test('anything else is not a date', () => {
    for (const s of [
      '', 'not a date', '1994-11-06T08:49:37Z', '784111777', 'Sun, 06 Nov 1994 08:49:37 PST',
      'Sun, 06 Nov 1994 08:49:37 +0000', 'Sun, 6 Nov 1994 08:49:37 GMT', 'sun, 06 nov 1994 08:49:37 gmt',
      'Sun, 31 Feb 1994 08:49:37 GMT', 'Sun, 06 Nov 1994 24:00:00 GMT', 'Sun, 06 Nov 1994 08:60:00 GMT',
      'Xyz, 06 Nov 1994 08:49:37 GMT', 'Sun, 06 Nov 1994 08:49:37 GMT ', ' Sun, 06 Nov 1994 08:49:37 GMT',
      'Sunday, 06-Nov-1994 08:49:37 GMT', 'Sun Nov 6 08:49:37 1994', 'Sun Nov  6 08:49:37 94',
      'Tuesday, 06 Nov 1994 08:49:37 GMT', 'Sun, 06 Nov 1994 08:49:37 GMT\u0000',
    ]) assert.ok(Number.isNaN(parseHttpDate(s)), JSON.stringify(s));
  });
});
