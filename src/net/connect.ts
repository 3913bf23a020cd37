/**
 * connect(host, port): a TCP connection to a host name, resolved with
 * node:dns, its addresses raced per Happy Eyeballs (RFC 8305), as Node's
 * `autoSelectFamily` does.
 *
 * The addresses are interleaved by family, starting with the family of the
 * first one the resolver returned. One attempt starts; the next starts when
 * the attempt delay (default 250 ms, as Node) passes or at once when the
 * latest attempt fails. Earlier attempts keep running (RFC 8305; Node closes
 * them instead). The first to connect wins; every other attempt is cancelled
 * (its connect aborted in the kernel) and a socket that connects anyway is
 * closed.
 *
 * When every attempt fails: with one address its error; with several an
 * AggregateError whose `errors` are in attempt order and whose `code` is the
 * first error's code (as Node). `timeout` bounds the whole operation, DNS
 * included (a TimeoutError, code 'ETIMEDOUT'); `signal` aborts it (an
 * AbortError whose `cause` is the signal's reason).
 */
import dns from 'node:dns';
import net from 'node:net';

import { invalidArgType, invalidArgValue } from '../errors.js';
import { checkMs } from '../ops/validate.js';
import { Ring } from '../ring/ring.js';
import {
  ipAddress, parseDestination, validatePort, type HostPortTarget, type SocketAddress, type UnixPathTarget,
} from './address.js';
import { guard } from './guard.js';
import type { SocketOptions } from './options.js';
// Types only: socket.ts imports this module (Socket.connect hands host names to connect()).
import type { ConnectOptions, Socket } from './socket.js';

/** One resolved address, as dns.lookup reports it with `all: true`. */
export interface LookupAddress {
  address: string;
  /** 4 or 6 ('IPv4' / 'IPv6' are accepted too). */
  family: number | string;
}

/**
 * A resolver with dns.lookup's signature (as net.connect's `lookup` option).
 * It is called with `{ all: true, family }` and must call back with an array;
 * the single-address form `(err, address, family)` is accepted too. It may
 * instead return (a promise of) the array.
 */
export type LookupFunction = (
  hostname: string,
  options: { all: true; family: 0 | 4 | 6; hints?: number },
  callback: (err: Error | null, addresses?: LookupAddress[] | string, family?: number) => void,
) => unknown;

export interface HostConnectOptions extends SocketOptions {
  ring?: Ring;
  /** Milliseconds for the whole operation (DNS and every attempt). */
  timeout?: number;
  signal?: AbortSignal;
  /** 4 or 6: only that family; 0 (default): both. */
  family?: 0 | 4 | 6;
  /** Race the addresses (default true). false: only the first address is tried, as Node. */
  autoSelectFamily?: boolean;
  /** Milliseconds before the next attempt starts (default 250; at least 10, as Node). */
  autoSelectFamilyAttemptDelay?: number;
  /** A resolver in place of dns.lookup (tests, custom DNS). */
  lookup?: LookupFunction;
}

export const DEFAULT_ATTEMPT_DELAY = 250;

/** Connects to one address: Socket.connect, handed over by socket.ts when it loads (see provideAddressConnect). */
type AddressConnect = (address: SocketAddress, options: ConnectOptions) => Promise<Socket>;
let connectAddress: AddressConnect | undefined;

/**
 * @internal socket.ts gives Socket.connect here as it loads (it imports this
 * module; this module never loads it: no import cycle). Every public way to
 * reach connect() loads socket.ts first.
 */
export function provideAddressConnect(fn: AddressConnect): void {
  connectAddress = fn;
}

function addressConnect(): AddressConnect {
  if (connectAddress === undefined) throw new Error('uringkit: net/socket.js is not loaded (import connect from uringkit)');
  return connectAddress;
}

const SOCKET_OPTION_KEYS = ['noDelay', 'keepAlive', 'sendBuffer', 'recvBuffer', 'linger'] as const;

function familyOf(f: number | string): 4 | 6 | 0 {
  if (f === 4 || f === 'IPv4') return 4;
  if (f === 6 || f === 'IPv6') return 6;
  return 0;
}

/** RFC 8305 §4: alternate families, starting with the family of the first address. */
export function interleave<T extends { family: string }>(addrs: readonly T[]): T[] {
  if (addrs.length === 0) return [];
  const first = addrs[0]!.family;
  const a = addrs.filter((x) => x.family === first);
  const b = addrs.filter((x) => x.family !== first);
  const out: T[] = [];
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    if (i < a.length) out.push(a[i]!);
    if (i < b.length) out.push(b[i]!);
  }
  return out;
}

function runLookup(fn: LookupFunction, host: string, opts: { all: true; family: 0 | 4 | 6; hints?: number }): Promise<LookupAddress[]> {
  return new Promise((resolve, reject) => {
    let settled = false;
    const cb = (err: Error | null, addresses?: LookupAddress[] | string, family?: number): void => {
      if (settled) return;
      settled = true;
      if (err) reject(err);
      else if (Array.isArray(addresses)) resolve(addresses);
      else if (typeof addresses === 'string') resolve([{ address: addresses, family: family ?? (net.isIPv6(addresses) ? 6 : 4) }]);
      else reject(new TypeError('lookup called back without addresses'));
    };
    let ret: unknown;
    try {
      ret = fn(host, opts, cb);
    } catch (err) {
      cb(err as Error);
      return;
    }
    if (Array.isArray(ret)) cb(null, ret as LookupAddress[]);
    else if (ret !== null && typeof ret === 'object' && typeof (ret as PromiseLike<unknown>).then === 'function') {
      (ret as PromiseLike<LookupAddress[]>).then((a) => cb(null, a), (e: unknown) => cb(e instanceof Error ? e : new Error(String(e))));
    }
  });
}

function notFound(host: string): Error {
  return Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), {
    code: 'ENOTFOUND', errno: -3008, syscall: 'getaddrinfo', hostname: host,
  });
}

/** Resolves `host` (or takes it literally) into the addresses to try, in order. */
async function resolve(host: string, port: number, family: 0 | 4 | 6, lookup: LookupFunction | undefined): Promise<SocketAddress[]> {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (net.isIP(bare.replace(/%.*$/, '')) !== 0) return [ipAddress(bare, port)];
  const opts: { all: true; family: 0 | 4 | 6; hints?: number } = { all: true, family };
  if (family === 0) opts.hints = dns.ADDRCONFIG;
  const found = lookup === undefined ? await dns.promises.lookup(host, opts) : await runLookup(lookup, host, opts);
  const seen = new Set<string>();
  const out: SocketAddress[] = [];
  for (const a of found) {
    const f = familyOf(a.family) || (net.isIPv6(a.address) ? 6 : 4);
    if (family !== 0 && f !== family) continue;
    if (typeof a.address !== 'string' || net.isIP(a.address.replace(/%.*$/, '')) === 0) continue;
    if (seen.has(a.address)) continue;
    seen.add(a.address);
    out.push(ipAddress(a.address, port));
  }
  if (out.length === 0) throw notFound(host);
  return out;
}

/** connect()'s object form: node:net's `{ host, port }` or `{ path }`, with the options beside them. */
export type ConnectTargetOptions = HostConnectOptions & (HostPortTarget | UnixPathTarget);

/** The forms of connect(), for error messages. */
const CONNECT_CALL_FORMS = 'a host string (connect(host, port)), a port number (connect(port, host)) ' +
  'or an options object (connect({ host, port }) or connect({ path }))';

/**
 * Connects a stream socket. The forms (node:net's, plus the host-first one):
 * - `connect(host, port, options?)`: `host` is a name (resolved with
 *   dns.lookup or `options.lookup`, its addresses raced) or an IP literal
 *   (used as is; '[::1]' is accepted).
 * - `connect(port, host = 'localhost', options?)`: node's positional order.
 * - `connect({ host = 'localhost', port, ...options })`: node's object form.
 * - `connect({ path, ...options })`: a Unix socket (no DNS).
 * `port` is checked as Node does: an integer 0..65535 or a string holding
 * one (else RangeError ERR_SOCKET_BAD_PORT; neither number nor string:
 * ERR_INVALID_ARG_TYPE). `options.timeout` bounds the whole connect (DNS
 * included); unlike node:net's `timeout`, it is not an idle timeout.
 */
export function connect(options: ConnectTargetOptions): Promise<Socket>;
export function connect(port: number, host?: string, options?: HostConnectOptions): Promise<Socket>;
export function connect(host: string, port: number | string, options?: HostConnectOptions): Promise<Socket>;
export function connect(first: unknown, second?: unknown, third?: unknown): Promise<Socket> {
  if (typeof first === 'string') return connectHost(first, validatePort(second, 'port'), third);
  if (typeof first === 'number') {
    const port = validatePort(first, 'port');
    if (second !== undefined && typeof second !== 'string') throw invalidArgType('host', 'of type string', second);
    return connectHost(second === undefined || second === '' ? 'localhost' : second, port, third);
  }
  // A plain object (a SocketAddress is Socket.connect's: it carries no options).
  const proto: unknown = first !== null && typeof first === 'object' ? Object.getPrototypeOf(first) : undefined;
  if (proto === Object.prototype || proto === null) {
    if (second !== undefined) {
      throw invalidArgValue('options', second, 'is not taken with the object form: put the options in the first object');
    }
    const options = first as ConnectTargetOptions;
    const dest = parseDestination(first, 'options');
    if (!('address' in dest)) return connectHost(dest.host, dest.port, options);
    if (dest.address.family !== 'unix') {
      // An IP literal: the host string as given (it may carry an IPv6 scope, '%eth0').
      return connectHost((options as HostPortTarget).host!, dest.address.port, options);
    }
    // A Unix socket: one connect, no DNS; the same options (timeout, signal, socket options).
    const { ring, socketOptions } = checkOptions(options);
    return addressConnect()(dest.address, { ...socketOptions, ring, timeout: options.timeout, signal: options.signal });
  }
  const hint = first !== null && typeof first === 'object' && 'domain' in first && 'family' in first
    ? ' (for a SocketAddress use Socket.connect(address))' : '';
  throw invalidArgType('host', `${CONNECT_CALL_FORMS}${hint}`, first);
}

/** The checked options shared by every form of connect(). */
function checkOptions(options: unknown): { ring: Ring; socketOptions: ConnectOptions } {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
  const o = options as HostConnectOptions;
  const family = o.family ?? 0;
  if (family !== 0 && family !== 4 && family !== 6) throw invalidArgValue('options.family', family, 'must be 0, 4 or 6');
  if (o.timeout !== undefined) checkMs(o.timeout, 'options.timeout');
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) {
    throw invalidArgType('options.signal', 'an instance of AbortSignal', o.signal);
  }
  checkMs(o.autoSelectFamilyAttemptDelay ?? DEFAULT_ATTEMPT_DELAY, 'options.autoSelectFamilyAttemptDelay');
  if (o.lookup !== undefined && typeof o.lookup !== 'function') throw invalidArgType('options.lookup', 'of type function', o.lookup);
  if (o.ring !== undefined && !(o.ring instanceof Ring)) throw invalidArgType('options.ring', 'an instance of Ring', o.ring);
  const ring = o.ring ?? Ring.current();
  const socketOptions: ConnectOptions = { ring };
  for (const k of SOCKET_OPTION_KEYS) {
    if (o[k] !== undefined) (socketOptions as Record<string, unknown>)[k] = o[k];
  }
  return { ring, socketOptions };
}

/** connect() to a host name or IP literal and a checked port: DNS, then Happy Eyeballs. */
function connectHost(host: string, port: number, opts: unknown = {}): Promise<Socket> {
  if (typeof host !== 'string') throw invalidArgType('host', 'of type string', host);
  if (host.length === 0) throw invalidArgValue('host', host, 'must not be empty');
  const { socketOptions } = checkOptions(opts);
  const connectOne = addressConnect();
  const options = opts as HostConnectOptions;
  const family = options.family ?? 0;
  const signal = options.signal;
  const delay = Math.max(10, options.autoSelectFamilyAttemptDelay ?? DEFAULT_ATTEMPT_DELAY);

  return new Promise<Socket>((resolvePromise, reject) => {
    const attempts = new AbortController();
    socketOptions.signal = attempts.signal;
    let done = false;
    let stagger: NodeJS.Timeout | undefined;
    let release: (() => void) | undefined;

    const finish = (): void => {
      done = true;
      release?.();
      if (stagger !== undefined) clearTimeout(stagger);
      attempts.abort();
    };
    function fail(err: unknown): void {
      if (done) return;
      finish();
      reject(err);
    }

    release = guard(fail, { signal, timeout: options.timeout, address: host, port });
    if (done) return;

    resolve(host, port, family, options.lookup).then((found) => {
      if (done) return;
      const order = options.autoSelectFamily === false ? found.slice(0, 1) : interleave(found);
      const errors: unknown[] = new Array<unknown>(order.length);
      let started = 0;
      let failed = 0;

      const startNext = (): void => {
        if (stagger !== undefined) clearTimeout(stagger);
        stagger = undefined;
        if (done || started >= order.length) return;
        const index = started++;
        const addr = order[index]!;
        if (started < order.length) stagger = setTimeout(startNext, delay);
        connectOne(addr, socketOptions).then((sock) => {
          if (done) {
            sock.destroy(); // lost the race after all
            return;
          }
          finish();
          resolvePromise(sock);
        }, (err: unknown) => {
          if (done) return;
          errors[index] = err;
          failed++;
          if (failed === order.length) {
            fail(order.length === 1 ? err : aggregate(errors, order));
            return;
          }
          if (index === started - 1) startNext(); // the latest attempt failed: do not wait for the delay
        });
      };
      startNext();
    }, fail);
  });
}

function aggregate(errors: unknown[], order: SocketAddress[]): AggregateError {
  const first = errors[0] as { code?: string } | undefined;
  const code = first?.code ?? 'ECONNREFUSED';
  const list = order.map((a) => a.toString()).join(', ');
  const e = new AggregateError(errors, `connect ${code}: all ${order.length} addresses failed (${list})`);
  (e as AggregateError & { code?: string }).code = code;
  return e;
}
