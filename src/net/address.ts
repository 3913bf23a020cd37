/**
 * SocketAddress: IPv4, IPv6 (with scope id and flow label), Unix paths and
 * Linux abstract names. Parsing and formatting here; conversion to and from
 * `struct sockaddr` happens in C (native/net.c).
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';

import type { SyscallBackend } from '../backend/backend.js';
import { invalidArgType, invalidArgValue, outOfRange, SystemError } from '../errors.js';

export type AddressFamily = 'ipv4' | 'ipv6' | 'unix';

export const AF_UNIX = 1;
export const AF_INET = 2;
export const AF_INET6 = 10;

export interface SocketAddressInit {
  family?: AddressFamily;
  address: string;
  port?: number;
  flowlabel?: number;
  /** IPv6 scope: an interface index or name ('eth0'). */
  scopeId?: number | string;
}

function scopeIndex(scope: number | string | undefined): number {
  if (scope === undefined || scope === '') return 0;
  if (typeof scope === 'number') {
    if (!Number.isInteger(scope) || scope < 0 || scope > 0xffffffff) throw outOfRange('scopeId', '>= 0 && <= 4294967295', scope);
    return scope;
  }
  if (/^\d+$/.test(scope)) return Number(scope);
  if (!/^[\w.-]{1,15}$/.test(scope)) throw invalidArgValue('scopeId', scope, 'is not an interface name');
  try {
    return Number(readFileSync(`/sys/class/net/${scope}/ifindex`, 'utf8').trim());
  } catch {
    throw invalidArgValue('scopeId', scope, 'names no network interface');
  }
}

export class SocketAddress {
  readonly family: AddressFamily;
  readonly address: string;
  readonly port: number;
  readonly flowlabel: number;
  readonly scopeId: number;

  constructor(init: SocketAddressInit) {
    if (init === null || typeof init !== 'object') throw invalidArgType('init', 'of type object', init);
    if (typeof init.address !== 'string') throw invalidArgType('init.address', 'of type string', init.address);
    const family = init.family ?? (init.address.includes(':') && net.isIPv6(init.address) ? 'ipv6'
      : net.isIPv4(init.address) ? 'ipv4' : init.address.startsWith('/') || init.address.startsWith('@') ? 'unix' : undefined);
    if (family === undefined) throw invalidArgValue('init.address', init.address, 'is not an IP address or Unix path');
    this.family = family;
    if (family === 'unix') {
      if (init.address.length === 0 || Buffer.byteLength(init.address) > 107) {
        throw invalidArgValue('init.address', init.address, 'must be 1..107 bytes for a Unix socket');
      }
      if (init.address.includes('\u0000')) throw invalidArgValue('init.address', init.address, 'must not contain NUL');
      this.address = init.address;
      this.port = 0;
      this.flowlabel = 0;
      this.scopeId = 0;
      return;
    }
    if (family === 'ipv4' ? !net.isIPv4(init.address) : !net.isIPv6(init.address)) {
      throw invalidArgValue('init.address', init.address, `is not an ${family} address`);
    }
    const port = init.port ?? 0;
    if (typeof port !== 'number') throw invalidArgType('init.port', 'of type number', port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw outOfRange('init.port', '>= 0 && <= 65535', port);
    const flow = init.flowlabel ?? 0;
    if (!Number.isInteger(flow) || flow < 0 || flow > 0xfffff) throw outOfRange('init.flowlabel', '>= 0 && <= 1048575', flow);
    this.address = init.address;
    this.port = port;
    this.flowlabel = family === 'ipv6' ? flow : 0;
    this.scopeId = family === 'ipv6' ? scopeIndex(init.scopeId) : 0;
  }

  /**
   * Parses '127.0.0.1:80', '[::1]:8080', '[fe80::1%eth0]:80', 'unix:/run/x.sock',
   * '/run/x.sock' or '@abstract-name'. A port may be omitted (0).
   */
  static parse(input: string): SocketAddress {
    if (typeof input !== 'string') throw invalidArgType('input', 'of type string', input);
    if (input.startsWith('unix:')) return new SocketAddress({ family: 'unix', address: input.slice(5) });
    if (input.startsWith('/') || input.startsWith('@')) return new SocketAddress({ family: 'unix', address: input });
    let m = /^\[([^\]%]+)(?:%([^\]]+))?\](?::(\d{1,5}))?$/.exec(input);
    if (m) {
      return new SocketAddress({ family: 'ipv6', address: m[1]!, scopeId: m[2], port: m[3] ? Number(m[3]) : 0 });
    }
    if (net.isIPv6(input)) return new SocketAddress({ family: 'ipv6', address: input });
    m = /^([\d.]+)(?::(\d{1,5}))?$/.exec(input);
    if (m && net.isIPv4(m[1]!)) return new SocketAddress({ family: 'ipv4', address: m[1]!, port: m[2] ? Number(m[2]) : 0 });
    throw invalidArgValue('input', input, 'is not a socket address');
  }

  static ipv4(address: string, port = 0): SocketAddress {
    return new SocketAddress({ family: 'ipv4', address, port });
  }

  static ipv6(address: string, port = 0, options?: { scopeId?: number | string; flowlabel?: number }): SocketAddress {
    return new SocketAddress({ family: 'ipv6', address, port, ...options });
  }

  static unix(path: string): SocketAddress {
    return new SocketAddress({ family: 'unix', address: path });
  }

  /** True for a Linux abstract-namespace Unix address ('@name'). */
  get abstract(): boolean {
    return this.family === 'unix' && this.address.startsWith('@');
  }

  toString(): string {
    switch (this.family) {
      case 'ipv4':
        return `${this.address}:${this.port}`;
      case 'ipv6':
        return `[${this.address}${this.scopeId ? `%${this.scopeId}` : ''}]:${this.port}`;
      default:
        // Absolute paths and abstract names parse back as they are; anything else needs the prefix.
        return this.address.startsWith('/') || this.address.startsWith('@') || this.address === ''
          ? this.address : `unix:${this.address}`;
    }
  }

  toJSON(): { family: AddressFamily; address: string; port: number } {
    return { family: this.family, address: this.address, port: this.port };
  }

  /** The AF_* number. */
  get domain(): number {
    return this.family === 'ipv4' ? AF_INET : this.family === 'ipv6' ? AF_INET6 : AF_UNIX;
  }

  /** @internal struct sockaddr bytes (built in C) and their length. */
  toSockaddr(sys: SyscallBackend): [Buffer, number] {
    const r = sys.sockaddrEncode(this.domain, this.address, this.port, this.flowlabel, this.scopeId);
    if (typeof r === 'number') throw new SystemError(r, 'sockaddr', { address: this.address, port: this.port });
    return [r, r.readUInt32LE(128)];
  }

  /** @internal From struct sockaddr bytes (decoded in C). */
  static fromSockaddr(sys: SyscallBackend, sockaddr: Uint8Array, length?: number): SocketAddress {
    const r = sys.sockaddrDecode(sockaddr, length);
    if (typeof r === 'number') throw new SystemError(r, 'sockaddr');
    const [domain, address, port, flowlabel, scopeId] = r;
    if (domain === AF_UNIX) {
      return Object.assign(Object.create(SocketAddress.prototype) as SocketAddress,
        { family: 'unix', address, port: 0, flowlabel: 0, scopeId: 0 });
    }
    return new SocketAddress({ family: domain === AF_INET ? 'ipv4' : 'ipv6', address, port, flowlabel, scopeId });
  }
}
