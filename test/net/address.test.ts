/**
 * SocketAddress: parsing and formatting (IPv4, IPv6 with scope id and flow
 * label, Unix paths, abstract names), argument errors, and the round trip
 * through the native `struct sockaddr` encoding.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { describe, test } from 'node:test';

import { Ring, SocketAddress } from '../../src/index.js';
import { sysOf } from '../../src/ops/socket.js';

const loIndex = Number(fs.readFileSync('/sys/class/net/lo/ifindex', 'utf8').trim());

function fields(a: SocketAddress): object {
  return { family: a.family, address: a.address, port: a.port, scopeId: a.scopeId, flowlabel: a.flowlabel };
}

/** Through the native encoder and decoder (what bind/connect/sendmsg and getsockname/recvmsg use). */
function viaSockaddr(a: SocketAddress): SocketAddress {
  const sys = sysOf(Ring.current());
  const [sa, len] = a.toSockaddr(sys);
  return SocketAddress.fromSockaddr(sys, sa, len);
}

function throwsCode(fn: () => unknown, ctor: typeof TypeError | typeof RangeError, code: string, label: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ctor, `${label}: expected ${ctor.name}, got ${String(e)}`);
    assert.equal((e as { code?: string }).code, code, `${label}: ${String(e)}`);
    return true;
  }, label);
}

describe('SocketAddress.parse / toString', () => {
  test('IPv4 with and without a port round-trips', () => {
    const cases: [string, string, number, string][] = [
      ['1.2.3.4:80', '1.2.3.4', 80, '1.2.3.4:80'],
      ['127.0.0.1:0', '127.0.0.1', 0, '127.0.0.1:0'],
      ['255.255.255.255:65535', '255.255.255.255', 65535, '255.255.255.255:65535'],
      ['0.0.0.0', '0.0.0.0', 0, '0.0.0.0:0'],
      ['10.0.0.1:1', '10.0.0.1', 1, '10.0.0.1:1'],
    ];
    for (const [input, address, port, text] of cases) {
      const a = SocketAddress.parse(input);
      assert.deepEqual(fields(a), { family: 'ipv4', address, port, scopeId: 0, flowlabel: 0 }, input);
      assert.equal(a.toString(), text, input);
      assert.equal(a.domain, 2, input);
      assert.equal(a.abstract, false, input);
      assert.deepEqual(fields(SocketAddress.parse(a.toString())), fields(a), `${input}: parse(toString())`);
      assert.deepEqual(a.toJSON(), { family: 'ipv4', address, port }, input);
    }
  });

  test('IPv6 with brackets, bare, with a numeric or named scope id', () => {
    const cases: [string, string, number, number, string][] = [
      ['[::1]:80', '::1', 80, 0, '[::1]:80'],
      ['[::1]', '::1', 0, 0, '[::1]:0'],
      ['::1', '::1', 0, 0, '[::1]:0'],
      ['[2001:db8::8a2e:370:7334]:65535', '2001:db8::8a2e:370:7334', 65535, 0, '[2001:db8::8a2e:370:7334]:65535'],
      ['[fe80::1%1]:80', 'fe80::1', 80, 1, '[fe80::1%1]:80'],
      ['[fe80::1%4294967295]:443', 'fe80::1', 443, 4294967295, '[fe80::1%4294967295]:443'],
      ['[fe80::1%lo]:80', 'fe80::1', 80, loIndex, `[fe80::1%${loIndex}]:80`],
      ['[::ffff:127.0.0.1]:8080', '::ffff:127.0.0.1', 8080, 0, '[::ffff:127.0.0.1]:8080'],
    ];
    for (const [input, address, port, scopeId, text] of cases) {
      const a = SocketAddress.parse(input);
      assert.deepEqual(fields(a), { family: 'ipv6', address, port, scopeId, flowlabel: 0 }, input);
      assert.equal(a.toString(), text, input);
      assert.equal(a.domain, 10, input);
      assert.deepEqual(fields(SocketAddress.parse(a.toString())), fields(a), `${input}: parse(toString())`);
    }
  });

  test('IPv6 flow label and scope id through the constructor and SocketAddress.ipv6()', () => {
    const a = SocketAddress.ipv6('fe80::2', 9000, { scopeId: 7, flowlabel: 0xfffff });
    assert.deepEqual(fields(a), { family: 'ipv6', address: 'fe80::2', port: 9000, scopeId: 7, flowlabel: 0xfffff });
    assert.equal(a.toString(), '[fe80::2%7]:9000');
    const b = new SocketAddress({ address: '::1', port: 5, flowlabel: 0x12345 });
    assert.equal(b.family, 'ipv6', 'family inferred from the address');
    assert.equal(b.flowlabel, 0x12345);
    const c = SocketAddress.ipv6('fe80::3', 1, { scopeId: 'lo' });
    assert.equal(c.scopeId, loIndex);
    // Flow label and scope id mean nothing for IPv4.
    const d = new SocketAddress({ address: '127.0.0.1', port: 1, flowlabel: 5, scopeId: 3 });
    assert.deepEqual(fields(d), { family: 'ipv4', address: '127.0.0.1', port: 1, scopeId: 0, flowlabel: 0 });
  });

  test('Unix paths and abstract names', () => {
    const long = `/${'x'.repeat(106)}`; // 107 bytes: the longest path sun_path holds with its NUL
    const cases: [string, string, boolean][] = [
      ['/tmp/app.sock', '/tmp/app.sock', false],
      ['unix:/run/x.sock', '/run/x.sock', false],
      ['@my-abstract', '@my-abstract', true],
      ['unix:@name', '@name', true],
      [long, long, false],
      [`/tmp/${'é'.repeat(51)}`, `/tmp/${'é'.repeat(51)}`, false], // 107 bytes in UTF-8
    ];
    for (const [input, address, abstract] of cases) {
      const a = SocketAddress.parse(input);
      assert.deepEqual(fields(a), { family: 'unix', address, port: 0, scopeId: 0, flowlabel: 0 }, input);
      assert.equal(a.abstract, abstract, input);
      assert.equal(a.toString(), address, input);
      assert.equal(a.domain, 1, input);
      assert.deepEqual(fields(SocketAddress.parse(a.toString())), fields(a), `${input}: parse(toString())`);
    }
    assert.equal(SocketAddress.unix('/a').address, '/a');
  });
});

describe('SocketAddress argument errors', () => {
  test('malformed inputs throw TypeError ERR_INVALID_ARG_VALUE', () => {
    const bad = ['', 'localhost:80', '1.2.3:80', '256.1.1.1:80', '1.2.3.4:', '1.2.3.4:80:1', '[::1', '[::1]:',
      '::1]:80', '[1.2.3.4]:80', '[::1]:abc', 'example.com', ' 1.2.3.4:80', '1.2.3.4:80 ', '[::g]:80', 'unix:',
      '1.2.3.4:123456'];
    for (const input of bad) throwsCode(() => SocketAddress.parse(input), TypeError, 'ERR_INVALID_ARG_VALUE', JSON.stringify(input));
  });

  test('non-string input throws TypeError ERR_INVALID_ARG_TYPE', () => {
    for (const v of [undefined, null, 80, {}, ['1.2.3.4:80']]) {
      throwsCode(() => SocketAddress.parse(v as unknown as string), TypeError, 'ERR_INVALID_ARG_TYPE', String(v));
    }
    throwsCode(() => new SocketAddress(null as unknown as { address: string }), TypeError, 'ERR_INVALID_ARG_TYPE', 'null init');
    throwsCode(() => new SocketAddress({ address: 1 as unknown as string }), TypeError, 'ERR_INVALID_ARG_TYPE', 'numeric address');
    throwsCode(() => new SocketAddress({ address: '1.2.3.4', port: '80' as unknown as number }), TypeError,
      'ERR_INVALID_ARG_TYPE', 'string port');
  });

  test('ports, flow labels and scope ids out of range throw RangeError ERR_OUT_OF_RANGE', () => {
    throwsCode(() => SocketAddress.parse('1.2.3.4:65536'), RangeError, 'ERR_OUT_OF_RANGE', 'port 65536');
    throwsCode(() => SocketAddress.parse('[::1]:99999'), RangeError, 'ERR_OUT_OF_RANGE', 'IPv6 port 99999');
    throwsCode(() => SocketAddress.ipv4('1.2.3.4', -1), RangeError, 'ERR_OUT_OF_RANGE', 'port -1');
    throwsCode(() => SocketAddress.ipv4('1.2.3.4', 1.5), RangeError, 'ERR_OUT_OF_RANGE', 'port 1.5');
    throwsCode(() => SocketAddress.ipv4('1.2.3.4', NaN), RangeError, 'ERR_OUT_OF_RANGE', 'port NaN');
    throwsCode(() => SocketAddress.ipv6('::1', 1, { flowlabel: 0x100000 }), RangeError, 'ERR_OUT_OF_RANGE', 'flowlabel 2^20');
    throwsCode(() => SocketAddress.ipv6('::1', 1, { flowlabel: -1 }), RangeError, 'ERR_OUT_OF_RANGE', 'flowlabel -1');
    throwsCode(() => SocketAddress.ipv6('::1', 1, { scopeId: -1 }), RangeError, 'ERR_OUT_OF_RANGE', 'scopeId -1');
    throwsCode(() => SocketAddress.ipv6('::1', 1, { scopeId: 2 ** 32 }), RangeError, 'ERR_OUT_OF_RANGE', 'scopeId 2^32');
  });

  test('unknown interface names, wrong families and bad Unix paths throw TypeError ERR_INVALID_ARG_VALUE', () => {
    throwsCode(() => SocketAddress.parse('[fe80::1%nosuchif0]:80'), TypeError, 'ERR_INVALID_ARG_VALUE', 'unknown interface');
    throwsCode(() => SocketAddress.parse('[fe80::1%../../etc]:80'), TypeError, 'ERR_INVALID_ARG_VALUE', 'path-like interface');
    throwsCode(() => SocketAddress.ipv4('::1'), TypeError, 'ERR_INVALID_ARG_VALUE', 'ipv4(::1)');
    throwsCode(() => SocketAddress.ipv6('1.2.3.4'), TypeError, 'ERR_INVALID_ARG_VALUE', 'ipv6(1.2.3.4)');
    throwsCode(() => new SocketAddress({ address: 'nothing' }), TypeError, 'ERR_INVALID_ARG_VALUE', 'no family');
    throwsCode(() => SocketAddress.unix(''), TypeError, 'ERR_INVALID_ARG_VALUE', 'empty path');
    throwsCode(() => SocketAddress.unix(`/${'x'.repeat(107)}`), TypeError, 'ERR_INVALID_ARG_VALUE', '108-byte path');
    throwsCode(() => SocketAddress.unix(`/tmp/${'é'.repeat(52)}`), TypeError, 'ERR_INVALID_ARG_VALUE', '109-byte UTF-8 path');
    throwsCode(() => SocketAddress.unix('/tmp/a\u0000b'), TypeError, 'ERR_INVALID_ARG_VALUE', 'NUL in path');
  });
});

describe('SocketAddress through struct sockaddr (native encode/decode)', () => {
  test('IPv4, IPv6 (scope id, flow label) and Unix addresses survive encode + decode', () => {
    const cases = [
      SocketAddress.ipv4('127.0.0.1', 1),
      SocketAddress.ipv4('255.255.255.255', 65535),
      SocketAddress.ipv6('::1', 443),
      SocketAddress.ipv6('fe80::1', 80, { scopeId: 3, flowlabel: 0xabcde }),
      SocketAddress.ipv6('2001:db8::1', 65535, { flowlabel: 0xfffff }),
      SocketAddress.ipv6('::ffff:10.1.2.3', 7),
      SocketAddress.unix('/tmp/uringkit.sock'),
      SocketAddress.unix(`/${'p'.repeat(106)}`),
      SocketAddress.unix('@abstract-name'),
      SocketAddress.unix(`@${'a'.repeat(106)}`),
    ];
    for (const a of cases) assert.deepEqual(fields(viaSockaddr(a)), fields(a), a.toString());
  });

  test('a scope id above 2^31 - 1 (valid: sin6_scope_id is a uint32) survives encode + decode', () => {
    for (const scopeId of [2 ** 31, 4294967295]) {
      const a = SocketAddress.ipv6('fe80::1', 80, { scopeId });
      assert.deepEqual(fields(viaSockaddr(a)), fields(a), a.toString());
    }
  });

  test('encoded lengths: sockaddr_in 16, sockaddr_in6 28, path with NUL, abstract without', () => {
    const sys = sysOf(Ring.current());
    assert.equal(SocketAddress.ipv4('1.2.3.4', 5).toSockaddr(sys)[1], 16);
    assert.equal(SocketAddress.ipv6('::1', 5).toSockaddr(sys)[1], 28);
    assert.equal(SocketAddress.unix('/ab').toSockaddr(sys)[1], 2 + 3 + 1);
    assert.equal(SocketAddress.unix('@ab').toSockaddr(sys)[1], 2 + 3);
    const [sa] = SocketAddress.ipv4('1.2.3.4', 0x1234).toSockaddr(sys);
    assert.deepEqual([...sa.subarray(0, 8)], [2, 0, 0x12, 0x34, 1, 2, 3, 4], 'AF_INET, port in network order, address');
  });
});
