/**
 * Peer servers for the suites (net, serve): start a server process pinned
 * to a CPU, wait until it is ready, stop it, and kill whatever is left when
 * the runner exits. One copy of this tooling for every suite.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';

export const HOST = '127.0.0.1';

export interface Server {
  name: string;
  port: number;
  child: ChildProcess;
  /** The first 8 KiB of what the server wrote to stderr (and stdout when it has no stderr). */
  stderr: () => string;
}

export interface StartOptions {
  /**
   * The server's fixed port. Without it the server must print
   * `listening on HOST:PORT` (a port-0 server) on stdout.
   */
  port?: number;
  cwd?: string;
  /** Readiness check once something listens on the port (default: a TCP connect succeeds); a throw fails the start. */
  ready?: (port: number) => Promise<boolean>;
  /** How long to wait for readiness, in ms (default 15 s). */
  timeoutMs?: number;
}

/** [command, args] pinned to `cpu` with taskset (or as is when `cpu` is ''). */
export function pinned(cpu: string, cmd: string, args: readonly string[]): [string, string[]] {
  return cpu === '' ? [cmd, [...args]] : ['taskset', ['-c', cpu, cmd, ...args]];
}

/** A free loopback port (for servers that take a fixed port). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, HOST, () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Whether a TCP connection to HOST:port succeeds. */
export function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(port, HOST);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
}

const running = new Set<Server>();
process.once('exit', () => {
  for (const s of running) s.child.kill('SIGKILL');
});

/**
 * Starts `cmd args` pinned to `cpu` and waits until it is ready (see
 * StartOptions). Rejects with the server's output when it exits or is not
 * ready in time (the process is killed then).
 */
export async function startServer(name: string, cpu: string, cmd: string, args: readonly string[],
  o: StartOptions = {}): Promise<Server> {
  const [c, a] = pinned(cpu, cmd, args);
  const child = spawn(c, a, { stdio: ['ignore', 'pipe', 'pipe'], cwd: o.cwd });
  let err = '';
  let out = '';
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    if (err.length < 8192) err += d;
  });
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    if (out.length < 8192) out += d;
  });
  const srv = (p: number): Server => ({ name, port: p, child, stderr: () => (err.trim() || out.trim()) });
  const deadline = Date.now() + (o.timeoutMs ?? 15_000);
  let exited: string | undefined;
  child.once('exit', (code, sig) => {
    exited = `exited (${sig ?? `code ${code}`})`;
  });
  child.once('error', (e) => {
    exited = `could not start: ${e.message}`;
  });
  while (Date.now() < deadline) {
    if (exited !== undefined) break;
    let port = o.port;
    if (port === undefined) {
      const m = /listening on \S+:(\d+)/.exec(out);
      if (m) port = Number(m[1]);
    }
    let ready = false;
    try {
      ready = port !== undefined && await canConnect(port) && (o.ready === undefined || await o.ready(port));
    } catch (e) {
      child.kill('SIGKILL'); // the readiness check refused it (e.g. a wrong answer): never leave it running
      throw new Error(`${name} server: ${(e as Error).message}`);
    }
    if (ready) {
      const s = srv(port!);
      running.add(s);
      return s;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`${name} server ${exited ?? `was not ready within ${(o.timeoutMs ?? 15_000) / 1000} s`}: ` +
    `${(err.trim() || out.trim()).slice(0, 1000)}`);
}

/** SIGTERM, then SIGKILL after 3 s; resolves once the process is gone. */
export async function stopServer(s: Server): Promise<void> {
  running.delete(s);
  if (s.child.exitCode !== null || s.child.signalCode !== null) return;
  const gone = new Promise<void>((r) => s.child.once('exit', () => r()));
  s.child.kill('SIGTERM');
  const t = setTimeout(() => s.child.kill('SIGKILL'), 3000);
  await gone;
  clearTimeout(t);
}

/** Starts a server, or returns why it could not start. */
export async function tryStart(name: string, cpu: string, cmd: string, args: readonly string[],
  o: StartOptions = {}): Promise<Server | string> {
  try {
    return await startServer(name, cpu, cmd, args, o);
  } catch (e) {
    return (e as Error).message;
  }
}

/** Stops every started server of the list (the strings are servers that never started). */
export async function stopAll(servers: ReadonlyArray<Server | string>): Promise<void> {
  for (const s of servers) if (typeof s !== 'string') await stopServer(s);
}

/** Throws when `s` has died (with its output). */
export function alive(s: Server): void {
  if (s.child.exitCode !== null || s.child.signalCode !== null) {
    throw new Error(`${s.name} server died (${s.child.signalCode ?? `exit ${s.child.exitCode}`}): ${s.stderr().slice(0, 1000)}`);
  }
}

/**
 * An nginx.conf for a benchmark peer: one worker in the foreground, its pid,
 * log and temp paths under `prefix`, no access log; `http` is the suite's own
 * http-level directives, `server` the body of its one server block.
 */
export function nginxConf(generatedBy: string, prefix: string, http: string, server: string): string {
  const indent = (text: string, n: number) => {
    const lines = text.split('\n').filter((l) => l.trim() !== '');
    const common = Math.min(...lines.map((l) => l.length - l.trimStart().length));
    return lines.map((l) => ' '.repeat(n) + l.slice(common).trimEnd()).join('\n');
  };
  return `# generated by ${generatedBy}
worker_processes 1;
daemon off;
pid ${prefix}/nginx.pid;
error_log ${prefix}/error.log warn;
events { worker_connections 1024; }
http {
  access_log off;
${indent(http, 2)}
  client_body_temp_path ${prefix}/tmp/body;
  proxy_temp_path ${prefix}/tmp/proxy;
  fastcgi_temp_path ${prefix}/tmp/fastcgi;
  uwsgi_temp_path ${prefix}/tmp/uwsgi;
  scgi_temp_path ${prefix}/tmp/scgi;
  server {
${indent(server, 4)}
  }
}
`;
}
