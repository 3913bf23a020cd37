/**
 * SocketAddress: IPv4, IPv6 (with scope id and flow label), Unix paths and
 * Linux abstract names. Parsing and formatting here; conversion to and from
 * `struct sockaddr` happens in C (native/net.c).
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import util from 'node:util';

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

// ---- where to connect: node:net's forms ------------------------------------------

/** node:net's TCP destination: `{ host, port }` (host defaults to 'localhost', as Node). */
export interface HostPortTarget {
  /** A host name or an IP literal ('[::1]' accepted). Default (also for ''): 'localhost'. */
  host?: string;
  /** 0..65535: an integer, or a string holding one (as Node). */
  port: number | string;
  /** For a host name: 4 or 6 resolves that family only; 0 (default): both. */
  family?: 0 | 4 | 6;
}

/** node:net's Unix-socket destination: `{ path }` (a file path or a Linux abstract '@name'). */
export interface UnixPathTarget {
  path: string;
}

/** The accepted ways of naming a destination, for error messages. */
export const CONNECT_FORMS = "a SocketAddress, an address string ('127.0.0.1:8080', '[::1]:8080', '/run/app.sock'), " +
  '{ host, port } or { path }';

/**
 * Node's ERR_SOCKET_BAD_PORT (a RangeError) in Node's words:
 * "Port should be >= 0 and < 65536. Received type string ('abc')."
 */
export function socketBadPort(port: unknown): RangeError & { code: 'ERR_SOCKET_BAD_PORT' } {
  const shown = port === null || port === undefined ? String(port) : `type ${typeof port} (${util.inspect(port)})`;
  return Object.assign(new RangeError(`Port should be >= 0 and < 65536. Received ${shown}.`),
    { code: 'ERR_SOCKET_BAD_PORT' as const });
}

/**
 * Node's port check (net.connect's validatePort): a number or a string;
 * not blank, and its numeric value an integer 0..65535. Else
 * ERR_INVALID_ARG_TYPE (neither number nor string) or ERR_SOCKET_BAD_PORT.
 * Returns the number.
 */
export function validatePort(port: unknown, name = 'options.port'): number {
  if (typeof port !== 'number' && typeof port !== 'string') throw invalidArgType(name, 'of type number or string', port);
  const n = +port;
  if ((typeof port === 'string' && port.trim().length === 0) || n !== n >>> 0 || n > 0xffff) throw socketBadPort(port);
  return n;
}

/** An IP literal (IPv6 with an optional '%scope') and a port as a SocketAddress. */
export function ipAddress(ip: string, port: number): SocketAddress {
  return net.isIPv6(ip.replace(/%.*$/, '')) ? SocketAddress.parse(`[${ip}]:${port}`) : SocketAddress.ipv4(ip, port);
}

/** A destination after checking: an address to connect to as is, or a host name still to resolve. */
export type Destination = { address: SocketAddress } | { host: string; port: number };

/**
 * Checks a destination given in any accepted form (CONNECT_FORMS) and
 * normalizes it: a SocketAddress, or an address string parsed by
 * SocketAddress.parse; `{ path }` (a Unix socket; wins over `port` as in
 * Node); `{ host, port }` with an IP literal (an address) or a name (left to
 * resolve). `name` names the argument in errors. Throws, before any I/O:
 * ERR_INVALID_ARG_TYPE (wrong type, naming the accepted forms),
 * ERR_SOCKET_BAD_PORT, ERR_MISSING_ARGS (neither port nor path),
 * ERR_INVALID_ARG_VALUE (a string that is no address).
 */
export function parseDestination(target: unknown, name: string): Destination {
  if (target instanceof SocketAddress) return { address: target };
  if (typeof target === 'string') {
    try {
      return { address: SocketAddress.parse(target) };
    } catch {
      throw invalidArgValue(name, target,
        `is not a socket address (for a host name use { host, port } or connect(host, port)); pass ${CONNECT_FORMS}`);
    }
  }
  if (target === null || typeof target !== 'object') throw invalidArgType(name, CONNECT_FORMS, target);
  const o = target as Partial<HostPortTarget & UnixPathTarget> & { address?: unknown };
  if (o.path !== undefined && o.path !== null) {
    if (typeof o.path !== 'string') throw invalidArgType(`${name}.path`, 'of type string', o.path);
    return { address: SocketAddress.unix(o.path) };
  }
  if (o.port === undefined) {
    const hint = o.address !== undefined ? " ('address' is not one: node:net's form is { host, port })" : '';
    throw Object.assign(new TypeError(`The "${name}.port" or "${name}.path" property must be specified${hint}; ` +
      `pass ${CONNECT_FORMS}`), { code: 'ERR_MISSING_ARGS' as const });
  }
  const port = validatePort(o.port, `${name}.port`);
  const host = o.host === undefined || o.host === null || o.host === '' ? 'localhost' : o.host;
  if (typeof host !== 'string') throw invalidArgType(`${name}.host`, 'of type string', host);
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (net.isIP(bare.replace(/%.*$/, '')) !== 0) return { address: ipAddress(bare, port) };
  return { host, port };
}
