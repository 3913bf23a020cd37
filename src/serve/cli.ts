/**
 * The `uringkit` command line (bin/uringkit.js):
 *
 *   uringkit serve [dir] [--port 8080] [--host 127.0.0.1] [--workers N] [--log]
 *
 * Without a directory it serves the small bundled site (site/). SIGINT or
 * SIGTERM shuts down gracefully: accepting stops, responses in flight finish,
 * then the process exits 0 (a second signal exits at once).
 */
import { lookup } from 'node:dns/promises';
import { existsSync, statSync } from 'node:fs';
import { isIP } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { Ring } from '../ring/ring.js';
import { TcpListener } from '../net/listener.js';
import { startWorkers } from '../thread/workers.js';
import { StaticServer, type ServeOptions } from './server.js';
import { LISTENING_TAG, type WorkerServeOptions } from './worker.js';

/** The bundled default site (site/ at the package root; this file runs from dist/src/serve/). */
export const DEFAULT_SITE = fileURLToPath(new URL('../../../site/', import.meta.url));

const USAGE = `usage: uringkit serve [dir] [options]

Serves the files under dir (default: the bundled demo site) over HTTP/1.1.

options:
  -p, --port N          port (default 8080; 0 picks a free one)
  -H, --host ADDR       address to listen on (default 127.0.0.1)
  -w, --workers N       worker threads, one ring each, sharing the port (default 1)
      --log             access log (JSON lines on stdout, pino)
      --no-listing      404 instead of a listing for directories without index.html
      --dotfiles MODE   paths with a segment starting with '.' (.env, .git/): ignore (default: 404),
                        deny (403) or allow (served)
      --cache-mb N      memory for small files (default 64; 0: no cache)
      --cache-ttl MS    how long a file's stat is trusted (default 1000; 0: every request)
      --cache-entries N most paths cached (default 16384; 0: no cache at all)
      --header-timeout MS  a request head must arrive within this (default 10000; then 408)
      --request-timeout MS a whole request, head and body, within this (default 30000)
      --send-timeout MS    a response making no progress this long is dropped (default 60000; 0: never)
      --ring-entries N     io_uring submission queue size per ring (default 1024; smaller rings need less
                           locked memory where RLIMIT_MEMLOCK is small)
      --max-io-workers N   cap on the kernel's io_uring worker threads per ring for blocking work such as a
                           send to a client that stopped reading (default 64)
  -h, --help            this text
`;

export interface CliOptions extends ServeOptions {
  workers: number;
  help: boolean;
  /** RingOptions.entries of each serving ring (--ring-entries). */
  ringEntries?: number;
  /** RingOptions.maxIoWorkers.unbounded of each serving ring (--max-io-workers). */
  maxIoWorkers?: number;
}

export class UsageError extends Error {}

function intArg(name: string, v: string | undefined, min: number, max: number): number {
  // Decimal digits only: Number() would also take '0x50', '1e3', ' 80' or '8_0'-free oddities.
  const n = v !== undefined && /^[0-9]{1,10}$/.test(v) ? Number(v) : NaN;
  if (v === undefined || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${name} needs an integer from ${min} to ${max}, got ${v === undefined ? 'nothing' : `'${v}'`}`);
  }
  return n;
}

/** Parses the arguments after `serve`. */
export function parseServeArgs(argv: readonly string[]): CliOptions {
  const o: CliOptions = { workers: 1, help: false, port: 8080, host: '127.0.0.1', log: false };
  let dir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const eq = a.startsWith('--') ? a.indexOf('=') : -1;
    const flag = eq > 0 ? a.slice(0, eq) : a;
    const value = (): string | undefined => (eq > 0 ? a.slice(eq + 1) : argv[++i]);
    switch (flag) {
      case '-p': case '--port': o.port = intArg('--port', value(), 0, 65535); break;
      case '-H': case '--host': {
        const v = value();
        if (!v) throw new UsageError('--host needs an address');
        o.host = v;
        break;
      }
      case '-w': case '--workers': o.workers = intArg('--workers', value(), 1, 256); break;
      case '--log': o.log = true; break;
      case '--no-listing': o.listing = false; break;
      case '--dotfiles': {
        const v = value();
        if (v !== 'ignore' && v !== 'deny' && v !== 'allow') {
          throw new UsageError(`--dotfiles needs ignore, deny or allow, got ${v === undefined ? 'nothing' : `'${v}'`}`);
        }
        o.dotfiles = v;
        break;
      }
      case '--cache-mb': o.cacheBytes = intArg('--cache-mb', value(), 0, 1 << 20) * 1024 * 1024; break;
      case '--cache-ttl': o.cacheTtlMs = intArg('--cache-ttl', value(), 0, 86_400_000); break;
      case '--cache-entries': o.cacheEntries = intArg('--cache-entries', value(), 0, 1 << 24); break;
      case '--header-timeout': o.headerTimeoutMs = intArg('--header-timeout', value(), 1, 86_400_000); break;
      case '--request-timeout': o.requestTimeoutMs = intArg('--request-timeout', value(), 1, 86_400_000); break;
      case '--send-timeout': o.sendTimeoutMs = intArg('--send-timeout', value(), 0, 86_400_000); break;
      case '--ring-entries': o.ringEntries = intArg('--ring-entries', value(), 2, 32768); break;
      case '--max-io-workers': o.maxIoWorkers = intArg('--max-io-workers', value(), 1, 65536); break;
      case '-h': case '--help': o.help = true; break;
      default:
        if (a.startsWith('-') && a !== '-') throw new UsageError(`unknown option ${a}`);
        if (dir !== undefined) throw new UsageError(`one directory only (got '${dir}' and '${a}')`);
        dir = a;
    }
  }
  o.root = path.resolve(dir ?? DEFAULT_SITE);
  return o;
}

/** Runs `uringkit <command> ...`; resolves with the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd === undefined || cmd === '-h' || cmd === '--help' || cmd === 'help') {
    process.stdout.write(USAGE);
    return cmd === undefined ? 2 : 0;
  }
  if (cmd !== 'serve') {
    process.stderr.write(`uringkit: unknown command '${cmd}'\n${USAGE}`);
    return 2;
  }
  let o: CliOptions;
  try {
    o = parseServeArgs(rest);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`uringkit serve: ${e.message}\n${USAGE}`);
    return 2;
  }
  if (o.help) {
    process.stdout.write(USAGE);
    return 0;
  }
  if (!existsSync(o.root!) || !statSync(o.root!).isDirectory()) {
    process.stderr.write(`uringkit serve: ${o.root} is not a directory\n`);
    return 1;
  }
  // The listener takes an IP address (or 'localhost'): a host name is looked up here, once.
  if (o.host !== undefined && o.host !== 'localhost' && isIP(o.host) === 0) {
    try {
      o.host = (await lookup(o.host)).address;
    } catch (e) {
      process.stderr.write(`uringkit serve: --host '${o.host}' is not an IP address and cannot be resolved ` +
        `(${(e as { code?: string }).code ?? oneLine(e)})\n`);
      return 1;
    }
  }
  return o.workers > 1 ? serveWithWorkers(o) : serveHere(o);
}

/** Resolves on the first SIGINT/SIGTERM; a second one exits at once. */
function shutdownSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    let seen = false;
    const on = (sig: NodeJS.Signals): void => {
      if (seen) {
        process.stderr.write(`uringkit serve: ${sig} again, exiting now\n`);
        process.exit(130);
      }
      seen = true;
      resolve(sig);
    };
    process.on('SIGINT', on);
    process.on('SIGTERM', on);
  });
}

function announce(root: string, url: string, workers: number): void {
  const bundled = path.resolve(root) === path.resolve(DEFAULT_SITE);
  process.stdout.write(`uringkit serve: ${bundled ? 'the bundled site' : root} at ${url}` +
    `${workers > 1 ? ` (${workers} workers)` : ''}\n`);
}

/** The serving rings' options from the CLI flags. */
function ringOptions(o: CliOptions): { entries?: number; maxIoWorkers?: { unbounded: number } } {
  return {
    ...(o.ringEntries !== undefined ? { entries: o.ringEntries } : {}),
    ...(o.maxIoWorkers !== undefined ? { maxIoWorkers: { unbounded: o.maxIoWorkers } } : {}),
  };
}

async function serveHere(o: CliOptions): Promise<number> {
  let server: StaticServer;
  try {
    // This thread's ring, made with the flags' sizes before anything else asks for it.
    server = StaticServer.start({ ...o, ring: Ring.current(ringOptions(o)) });
  } catch (e) {
    process.stderr.write(`uringkit serve: ${oneLine(e)}\n`);
    return 1;
  }
  announce(server.root, server.url, 1);
  const sig = await shutdownSignal();
  process.stderr.write(`uringkit serve: ${sig}, shutting down\n`);
  await server.close();
  return 0;
}

async function serveWithWorkers(o: CliOptions): Promise<number> {
  const ring = Ring.current(ringOptions(o));
  // Hold the port (SO_REUSEPORT) until every worker listens on it; also resolves port 0.
  let hold: TcpListener;
  try {
    hold = TcpListener.bind({ host: o.host, port: o.port, reusePort: true, ring });
  } catch (e) {
    process.stderr.write(`uringkit serve: ${oneLine(e)}\n`);
    return 1;
  }
  const port = hold.address().port;
  const data: WorkerServeOptions = {
    root: o.root, host: o.host, port, log: o.log === true, listing: o.listing, dotfiles: o.dotfiles, cacheBytes: o.cacheBytes,
    cacheTtlMs: o.cacheTtlMs, cacheEntries: o.cacheEntries, headerTimeoutMs: o.headerTimeoutMs,
    requestTimeoutMs: o.requestTimeoutMs, sendTimeoutMs: o.sendTimeoutMs,
  };
  const workers = startWorkers({
    module: new URL('./worker.js', import.meta.url), count: o.workers, data, ring: ringOptions(o),
  });
  const failed = workers.join().then(() => new Error('the workers ended'), (e: unknown) => e as Error);
  const messages = ring.messages();
  const listening = (async () => {
    for (let n = 0; n < o.workers;) {
      const m = await messages.next();
      if (m.done) return;
      if (m.value.tag === LISTENING_TAG) n++;
    }
  })();
  const first = await Promise.race([listening.then(() => undefined), failed]);
  await messages.return?.();
  await hold.close();
  if (first instanceof Error) {
    process.stderr.write(failureLines(first));
    await workers.stop({ timeoutMs: 5000 });
    return 1;
  }
  const h = hold.address().address;
  announce(o.root!, `http://${h.includes(':') ? `[${h}]` : h}:${port}/`, o.workers);
  const sig = await Promise.race([shutdownSignal(), failed]);
  if (sig instanceof Error) {
    process.stderr.write(failureLines(sig));
    await workers.stop({ timeoutMs: 5000 });
    return 1;
  }
  process.stderr.write(`uringkit serve: ${sig}, shutting down\n`);
  await workers.stop({ timeoutMs: 15_000 });
  try {
    await workers.join();
  } catch (e) {
    process.stderr.write(failureLines(e));
    return 1;
  }
  return 0;
}

/** The first line of an error's message (never its stack). */
export function oneLine(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  const nl = m.indexOf('\n');
  return nl < 0 ? m : m.slice(0, nl);
}

/** Failed workers, one line each: join() rejects with the failure, or an AggregateError of several. */
export function failureLines(e: unknown): string {
  const all = e instanceof AggregateError ? e.errors : [e];
  return all.map((x) => `uringkit serve: a worker failed: ${oneLine(x)}\n`).join('');
}
