/**
 * connectTls(host, port): connect() (DNS, Happy Eyeballs), then node:tls over
 * the uringkit socket through socketStream(). Resolves once the handshake is
 * done ('secureConnect'), with the server's certificate verified by default
 * (Node's rules: `ca`, `rejectUnauthorized`, `checkServerIdentity`).
 *
 * `servername` (SNI) defaults to `host` when it is a name (never an IP, per
 * RFC 6066); the certificate is checked against `servername`, or `host`.
 * `timeout` bounds connecting and the handshake together; it is not the idle
 * timeout of tls.connect (call `setTimeout` on the result for that).
 * On failure everything is closed; when the TLSSocket closes later, the
 * uringkit socket under it is closed too.
 */
import net from 'node:net';
import tls from 'node:tls';

import { invalidArgType } from '../errors.js';
import { checkMs } from '../ops/validate.js';
import { connect, type HostConnectOptions } from './connect.js';
import { guard } from './guard.js';
import { socketStream, type SocketStream, type SocketStreamOptions } from './stream.js';

export type TlsConnectOptions = Omit<tls.ConnectionOptions, 'timeout' | 'lookup' | 'socket' | 'host' | 'port' | 'path'>
  & HostConnectOptions & { stream?: Omit<SocketStreamOptions, 'signal' | 'timeout' | 'allowHalfOpen'> };

const OWN_KEYS = [
  'ring', 'timeout', 'signal', 'family', 'autoSelectFamily', 'autoSelectFamilyAttemptDelay', 'lookup', 'noDelay',
  'keepAlive', 'sendBuffer', 'recvBuffer', 'linger', 'stream',
] as const;

/** Wraps `stream` in a client TLSSocket that destroys the stream when it closes. */
function tlsOverStream(stream: SocketStream, host: string, options: tls.ConnectionOptions = {}): tls.TLSSocket {
  const opts: tls.ConnectionOptions = { ...options, socket: stream };
  if (opts.servername === undefined && net.isIP(host) === 0) opts.servername = host;
  // tls checks the certificate against servername || host (never 'localhost' by default here).
  if (opts.host === undefined) opts.host = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  const t = tls.connect(opts);
  t.once('close', () => stream.destroy());
  return t;
}

export async function connectTls(host: string, port: number, options: TlsConnectOptions = {}): Promise<tls.TLSSocket> {
  if (options === null || typeof options !== 'object') throw invalidArgType('options', 'of type object', options);
  if (options.timeout !== undefined) checkMs(options.timeout, 'options.timeout');
  const start = Date.now();
  const sock = await connect(host, port, options);
  const tlsOptions: Record<string, unknown> = { ...options };
  for (const k of OWN_KEYS) delete tlsOptions[k];
  // TLS needs the half-open semantics: it may still write after the peer's FIN.
  const stream = socketStream(sock, { ...options.stream, allowHalfOpen: true });
  const t = tlsOverStream(stream, host, tlsOptions as tls.ConnectionOptions);
  return new Promise<tls.TLSSocket>((resolve, reject) => {
    let release: (() => void) | undefined;
    const cleanup = (): void => {
      release?.();
      t.removeListener('secureConnect', onSecure);
      t.removeListener('error', onError);
      t.removeListener('close', onClose);
    };
    const failWith = (err: Error): void => {
      cleanup();
      t.destroy();
      stream.destroy();
      reject(err);
    };
    const onSecure = (): void => {
      cleanup();
      resolve(t);
    };
    const onError = (err: Error): void => failWith(err);
    const onClose = (): void => failWith(Object.assign(new Error(`Client network socket disconnected before secure TLS connection was established`), {
      code: 'ECONNRESET', host, port,
    }));
    t.once('secureConnect', onSecure);
    t.once('error', onError);
    t.once('close', onClose);
    // The deadline covers connect() and the handshake: what connect() took is deducted.
    release = guard(failWith, { signal: options.signal, timeout: options.timeout, elapsed: Date.now() - start, address: host, port });
  });
}
