/**
 * struct sockaddr in pure JavaScript, byte for byte as native/net.c builds
 * and reads it: 128 bytes of sockaddr_storage (family u16 little-endian,
 * port big-endian at 2; IPv4 address at 4..7; IPv6 flowinfo (big-endian) at
 * 4, address at 8..23, scope id (host order) at 24; Unix path at 2..,
 * abstract names with a leading NUL and no terminator), and for encode the
 * length as u32 LE at 128.
 */
import net from 'node:net';

import { E } from './errno.js';

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;

const SUN_PATH = 108;

/** A decoded address (the mock keys sockets by it; the portable backend decodes to it). */
export interface SockAddr {
  family: number;
  /** Canonical text (inet_ntop form); Unix: the path, '@name' for abstract, '' unnamed. */
  address: string;
  port: number;
  flowinfo: number;
  scopeId: number;
}

function parseIPv4(s: string): number[] | undefined {
  if (!net.isIPv4(s)) return undefined;
  return s.split('.').map(Number);
}

/** 16 bytes of an IPv6 address (no zone), or undefined. */
function parseIPv6(s: string): number[] | undefined {
  if (!net.isIPv6(s) || s.includes('%')) return undefined;
  let text = s;
  const lastColon = text.lastIndexOf(':');
  const v4 = text.slice(lastColon + 1);
  if (v4.includes('.')) {
    const b = parseIPv4(v4);
    if (b === undefined) return undefined;
    text = `${text.slice(0, lastColon + 1)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const want = 8;
  let words: number[];
  const dbl = text.indexOf('::');
  const hex = (p: string): number[] => (p === '' ? [] : p.split(':').map((h) => parseInt(h, 16)));
  if (dbl >= 0) {
    const head = hex(text.slice(0, dbl));
    const rest = hex(text.slice(dbl + 2));
    words = [...head, ...new Array<number>(want - head.length - rest.length).fill(0), ...rest];
  } else {
    words = hex(text);
  }
  if (words.length !== 8) return undefined;
  const out: number[] = [];
  for (const w of words) out.push((w >> 8) & 0xff, w & 0xff);
  return out;
}

/** glibc inet_ntop(AF_INET6): lowercase, the longest run (>= 2) of zero words as '::', embedded IPv4 forms. */
export function formatIPv6(b: Uint8Array | number[]): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[2 * i]! << 8) | b[2 * i + 1]!);
  let best = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  if (bestLen < 2) best = -1;
  let out = '';
  for (let i = 0; i < 8; i++) {
    if (best >= 0 && i >= best && i < best + bestLen) {
      if (i === best) out += ':';
      continue;
    }
    if (i !== 0) out += ':';
    if (i === 6 && best === 0 && (bestLen === 6 || (bestLen === 5 && w[5] === 0xffff))) {
      out += `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
      break;
    }
    out += w[i]!.toString(16);
  }
  if (best >= 0 && best + bestLen === 8) out += ':';
  return out;
}

/** Canonical text of an IP address string (as a decode would return it), or undefined. */
export function canonicalIP(family: number, address: string): string | undefined {
  if (family === AF_INET) {
    const b = parseIPv4(address);
    return b === undefined ? undefined : b.join('.');
  }
  const b = parseIPv6(address);
  return b === undefined ? undefined : formatIPv6(b);
}

/** sockaddrEncode: 132 bytes (storage + length) or -errno. */
export function encodeSockaddr(family: number, address: string, port: number, flowinfo: number,
  scopeId: number): Buffer | number {
  if (typeof address !== 'string') return -E.EINVAL;
  const out = Buffer.alloc(132);
  let len: number;
  if (family === AF_INET) {
    const b = parseIPv4(address);
    if (b === undefined) return -E.EINVAL;
    out.writeUInt16LE(AF_INET, 0);
    out.writeUInt16BE(port & 0xffff, 2);
    out.set(b, 4);
    len = 16;
  } else if (family === AF_INET6) {
    const b = parseIPv6(address);
    if (b === undefined) return -E.EINVAL;
    out.writeUInt16LE(AF_INET6, 0);
    out.writeUInt16BE(port & 0xffff, 2);
    out.writeUInt32BE(flowinfo >>> 0, 4);
    out.set(b, 8);
    out.writeUInt32LE(scopeId >>> 0, 24);
    len = 28;
  } else if (family === AF_UNIX) {
    const bytes = Buffer.from(address, 'utf8');
    if (bytes.length >= SUN_PATH) return -E.ENAMETOOLONG;
    out.writeUInt16LE(AF_UNIX, 0);
    out.set(bytes, 2);
    if (bytes.length > 0 && bytes[0] === 0x40 /* '@' */) {
      out[2] = 0;
      len = 2 + bytes.length;
    } else {
      len = 2 + bytes.length + 1;
    }
  } else {
    return -E.EAFNOSUPPORT;
  }
  out.writeUInt32LE(len, 128);
  return out;
}

/** sockaddrDecode: [family, address, port, flowinfo, scopeId] or -errno (native's rules for the length). */
export function decodeSockaddr(sockaddr: Uint8Array, length?: number):
  [number, string, number, number, number] | number {
  if (!(sockaddr instanceof Uint8Array) || sockaddr.length < 2) return -E.EINVAL;
  let len = length === undefined || length === null ? -1 : length | 0;
  if (len < 0 && sockaddr.length < 128) len = sockaddr.length;
  const ss = new Uint8Array(128);
  ss.set(sockaddr.subarray(0, Math.min(sockaddr.length, 128)));
  const v = new DataView(ss.buffer);
  const family = v.getUint16(0, true);
  switch (family) {
    case AF_INET:
      return [AF_INET, `${ss[4]}.${ss[5]}.${ss[6]}.${ss[7]}`, v.getUint16(2, false), 0, 0];
    case AF_INET6:
      return [AF_INET6, formatIPv6(ss.subarray(8, 24)), v.getUint16(2, false), v.getUint32(4, false),
        v.getUint32(24, true)];
    case AF_UNIX: {
      let max = SUN_PATH;
      if (len >= 0) max = Math.min(max, len > 2 ? len - 2 : 0);
      const path = ss.subarray(2, 2 + max);
      if (max === 0 || path.every((x) => x === 0)) return [AF_UNIX, '', 0, 0, 0];
      if (path[0] === 0) {
        let k = max - 1;
        if (len < 0) while (k > 0 && path[k] === 0) k--;
        return [AF_UNIX, '@' + Buffer.from(path.subarray(1, 1 + k)).toString('utf8'), 0, 0, 0];
      }
      let k = path.indexOf(0);
      if (k < 0) k = max;
      return [AF_UNIX, Buffer.from(path.subarray(0, k)).toString('utf8'), 0, 0, 0];
    }
    default:
      return -E.EAFNOSUPPORT;
  }
}

/** A SockAddr from sockaddr bytes (with their length), or -errno. */
export function addrOf(sockaddr: Uint8Array, length: number): SockAddr | number {
  if (length < 2) return -E.EINVAL;
  const r = decodeSockaddr(sockaddr.subarray(0, Math.min(length, sockaddr.length)), length);
  if (typeof r === 'number') return r;
  const [family, address, port, flowinfo, scopeId] = r;
  if (family === AF_INET && length < 16) return -E.EINVAL;
  if (family === AF_INET6 && length < 24) return -E.EINVAL;
  return { family, address, port, flowinfo, scopeId };
}

/** The exact sockaddr bytes of an address (as getsockname returns them). */
export function bytesOfAddr(a: SockAddr): Buffer {
  const r = encodeSockaddr(a.family, a.address, a.port, a.flowinfo, a.scopeId);
  if (typeof r === 'number') {
    // Unnamed Unix socket: the family only.
    const b = Buffer.alloc(2);
    b.writeUInt16LE(a.family, 0);
    return b;
  }
  if (a.family === AF_UNIX && a.address === '') return r.subarray(0, 2);
  return r.subarray(0, r.readUInt32LE(128));
}

export function formatAddr(a: SockAddr | undefined): string {
  if (a === undefined) return '(unbound)';
  if (a.family === AF_UNIX) return a.address === '' ? '(unnamed)' : a.address;
  return a.family === AF_INET6 ? `[${a.address}]:${a.port}` : `${a.address}:${a.port}`;
}
