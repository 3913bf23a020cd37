/**
 * net suite: TCP servers on uringkit sockets against node:net, node:http,
 * Bun and nginx, each server in its own process pinned to one CPU and the
 * load generator pinned to the other. See bench/README.md for the cases.
 *
 *   echo64-c1 / echo64-c50: examples/echo-server vs a node:net echo server,
 *     under bench/net/loadgen.c (N connections, 64-byte ping-pong).
 *   http-hello-c50: examples/http-hello vs node:http, Bun.serve and nginx,
 *     under `wrk -t1 -c50 -d5s`.
 *   bulk-recv-64m, bulk-recv-64m-iter, proxy-64m: 64 MiB over one connection
 *     from bench/net/sender.c into a uringkit receiver / proxy vs node:net
 *     (see bulkCases).
 */
import { execFile, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildC, buildDir, repoRoot } from '../lib/cbuild.js';
import { alive, freePort, HOST, nginxConf, pinned, stopAll, tryStart as startPeer, type Server } from '../lib/server.js';
import { startSuite } from '../lib/suite.js';
import {
  Case, cpusAllowed, emit, interleave, median, progress, type BenchOptions, type CaseResult, type Sampler,
} from '../lib/report.js';

const MSG = 64;
const WRK_CONNS = 50;
const WRK_SECONDS = 5;
const LOADGEN_WARMUP_MS = 200;
const dist = path.join(repoRoot, 'dist');

// ---- CPUs ------------------------------------------------------------------------

/**
 * Servers on UK_NET_SERVER_CPU (default 0), load generators on
 * UK_NET_LOAD_CPU (default 1). taskset may widen the mask the runner pinned
 * itself to, so both are taken from the machine's CPUs, not ours.
 */
function cpus(notes: string[]): { server: string; load: string; taskset: boolean } {
  const taskset = spawnSync('taskset', ['--version'], { encoding: 'utf8' }).error === undefined;
  const n = Number(spawnSync('nproc', ['--all'], { encoding: 'utf8' }).stdout?.trim()) || 1;
  let server = process.env['UK_NET_SERVER_CPU'] ?? '0';
  let load = process.env['UK_NET_LOAD_CPU'] ?? (n > 1 ? '1' : '0');
  if (!taskset) {
    notes.push('note: taskset not found: servers and load generators run unpinned');
    server = load = '';
  } else if (server === load) {
    notes.push(`note: server and load generator share CPU ${server} (fewer than 2 CPUs)`);
  }
  return { server, load, taskset };
}

// ---- tools: wrk, nginx, bun ------------------------------------------------------------

function which(cmd: string, extra: readonly string[] = []): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  const p = r.stdout?.trim();
  if (r.status === 0 && p) return p;
  return extra.find((e) => existsSync(e));
}

/** apt-get install (as root only); returns undefined or the reason it could not. */
function aptInstall(pkgs: readonly string[]): string | undefined {
  if (process.getuid?.() !== 0) return `not root: cannot apt-get install ${pkgs.join(' ')}`;
  if (which('apt-get') === undefined) return 'no apt-get on this system';
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  const install = (): ReturnType<typeof spawnSync> =>
    spawnSync('apt-get', ['install', '-y', '-q', '--no-install-recommends', ...pkgs], { encoding: 'utf8', env, timeout: 300_000 });
  progress(`apt-get install ${pkgs.join(' ')} ...`);
  let r = install();
  if (r.status !== 0) {
    spawnSync('apt-get', ['update', '-q'], { encoding: 'utf8', env, timeout: 300_000 });
    r = install();
  }
  if (r.status !== 0) {
    return `apt-get install ${pkgs.join(' ')} failed (exit ${r.status}): ${String(r.stderr ?? r.error?.message ?? '').trim().slice(-500)}`;
  }
  return undefined;
}

/** The path of `cmd`, installing `pkgs` with apt-get when missing; or { missing: reason }. */
function tool(cmd: string, pkgs: readonly string[], extra: readonly string[] = []): string | { missing: string } {
  let p = which(cmd, extra);
  if (p !== undefined) return p;
  const why = aptInstall(pkgs);
  p = which(cmd, extra);
  if (p !== undefined) return p;
  return { missing: `${cmd} not found${why ? `; ${why}` : ` after apt-get install ${pkgs.join(' ')}`}` };
}

/** Bun from the npm package `bun`, installed into bench/.build/ when missing. */
function bunBinary(): string | { missing: string } {
  const bin = path.join(buildDir, 'node_modules', '.bin', 'bun');
  const probe = (): string | undefined => {
    const r = spawnSync(bin, ['--version'], { encoding: 'utf8', timeout: 20_000 });
    if (r.status === 0) return undefined;
    return `bun --version failed (exit ${r.status}): ${String(r.stderr || r.stdout || r.error?.message || '').trim().slice(0, 500)}`;
  };
  if (existsSync(bin) && probe() === undefined) return bin;
  mkdirSync(buildDir, { recursive: true });
  progress('npm install --prefix bench/.build bun ...');
  const r = spawnSync('npm', ['install', '--prefix', buildDir, '--no-audit', '--no-fund', 'bun'],
    { encoding: 'utf8', timeout: 300_000 });
  if (r.status !== 0 || !existsSync(bin)) {
    return {
      missing: `npm install --prefix bench/.build bun failed (exit ${r.status}): ` +
        String(r.stderr || r.error?.message || '').trim().slice(-500),
    };
  }
  const why = probe();
  return why === undefined ? bin : { missing: `the npm package bun installed but its binary does not run: ${why}` };
}

/** Starts a server (or returns why not) and says so. */
async function tryStart(name: string, cpu: string, cmd: string, args: readonly string[], port?: number,
  cwd?: string): Promise<Server | string> {
  const s = await startPeer(name, cpu, cmd, args, { port, cwd });
  if (typeof s !== 'string') progress(`${name}: listening on ${HOST}:${s.port} (pid ${s.child.pid})`);
  return s;
}

// ---- server CPU time ------------------------------------------------------------------------

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()) || 100;

/** [ppid, utime + stime ticks] of a process (all its threads), or undefined when it is gone. */
function statOf(pid: number): [number, number] | undefined {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = st.slice(st.lastIndexOf(')') + 2).split(' '); // f[0] = state (field 3)
    return [Number(f[1]), Number(f[11]) + Number(f[12])];
  } catch {
    return undefined;
  }
}

/** CPU seconds used so far by `pid` and its descendants (nginx's worker is its master's child). */
function treeCpuSeconds(pid: number): number {
  const kids = new Map<number, number[]>();
  const ticks = new Map<number, number>();
  for (const name of readdirSync('/proc')) {
    const p = Number(name);
    if (!Number.isInteger(p)) continue;
    const s = statOf(p);
    if (s === undefined) continue;
    ticks.set(p, s[1]);
    const list = kids.get(s[0]);
    if (list) list.push(p);
    else kids.set(s[0], [p]);
  }
  let sum = 0;
  const todo = [pid];
  while (todo.length) {
    const p = todo.pop()!;
    sum += ticks.get(p) ?? 0;
    todo.push(...(kids.get(p) ?? []));
  }
  return sum / CLK_TCK;
}

/** Server CPU µs per request, per subject, one entry per sample (warm-up rounds included). */
const cpuPerRequest = new Map<string, number[]>();

function recordCpu(s: Server, cpuSeconds: number, requests: number): void {
  if (requests <= 0) return;
  const list = cpuPerRequest.get(s.name) ?? [];
  list.push((cpuSeconds * 1e6) / requests);
  cpuPerRequest.set(s.name, list);
}

/**
 * "; server CPU per request vs <peer>: 0.61" (the peer's median ÷ uringkit's: > 1 means uringkit
 * uses less), or '' when either is missing. On a loaded machine the request rates of the
 * servers follow the scheduler as much as their own cost; CPU per request is their own cost.
 */
function cpuRatioNote(peer: string): string {
  const uk = cpuPerRequest.get('uringkit');
  const p = cpuPerRequest.get(peer);
  if (uk === undefined || p === undefined || uk.length === 0 || p.length === 0) return '';
  return `; server CPU per request vs ${peer}: ${(median(p) / median(uk)).toFixed(2)} (> 1: uringkit uses less)`;
}

/** "server CPU 5.71 µs/request" (median over the samples), or '' when none. */
function cpuNote(name: string): string {
  const v = cpuPerRequest.get(name);
  if (v === undefined || v.length === 0) return '';
  return `server CPU ${median(v).toFixed(2)} µs/request (median; kernel TCP work on its sends included)`;
}

// ---- load generators --------------------------------------------------------------------------

function run(cmd: string, args: readonly string[], timeoutMs: number): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(cmd, [...args], { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message} ${String(stderr).trim()}`));
      else resolve({ stdout, stderr });
    });
  });
}

/** One echo load run against `s`: requests/s. */
function echoSampler(loadgen: string, cpu: string, s: Server, conns: number, ms: number): Sampler {
  return async () => {
    alive(s);
    const [c, a] = pinned(cpu, loadgen, [HOST, String(s.port), String(conns), String(MSG), String(ms), String(LOADGEN_WARMUP_MS)]);
    const cpu0 = treeCpuSeconds(s.child.pid!);
    const r = await run(c, a, ms + 30_000);
    const cpu1 = treeCpuSeconds(s.child.pid!);
    const m = /requests_per_s=([\d.]+)/.exec(r.stdout);
    if (!m) throw new Error(`net-loadgen against ${s.name}: no result: ${r.stdout} ${r.stderr}`);
    recordCpu(s, cpu1 - cpu0, Number(/total_requests=(\d+)/.exec(r.stdout)?.[1] ?? 0));
    return Number(m[1]);
  };
}

/** Errors wrk counted, per subject, over all its runs (reported in the notes). */
const wrkErrors = new Map<string, string[]>();

/** One wrk run against `s`: requests/s. */
function wrkSampler(wrk: string, cpu: string, s: Server): Sampler {
  return async () => {
    alive(s);
    const [c, a] = pinned(cpu, wrk, ['-t1', `-c${WRK_CONNS}`, `-d${WRK_SECONDS}s`, `http://${HOST}:${s.port}/`]);
    const cpu0 = treeCpuSeconds(s.child.pid!);
    const r = await run(c, a, WRK_SECONDS * 1000 + 30_000);
    const cpu1 = treeCpuSeconds(s.child.pid!);
    const m = /Requests\/sec:\s*([\d.]+)/.exec(r.stdout);
    if (!m) throw new Error(`wrk against ${s.name}: no result: ${r.stdout} ${r.stderr}`);
    recordCpu(s, cpu1 - cpu0, Number(/(\d+) requests in/.exec(r.stdout)?.[1] ?? 0));
    const errs = [/Socket errors:[^\n]*/.exec(r.stdout)?.[0], /Non-2xx or 3xx responses:[^\n]*/.exec(r.stdout)?.[0]]
      .filter((x): x is string => x !== undefined);
    if (errs.length) {
      const list = wrkErrors.get(s.name) ?? [];
      list.push(errs.join('; '));
      wrkErrors.set(s.name, list);
    }
    return Number(m[1]);
  };
}

// ---- peer configurations -------------------------------------------------------------------------

function nginxConfig(prefix: string, port: number): string {
  return nginxConf('bench/net/main.ts', prefix, `
    keepalive_requests 1000000;
    keepalive_timeout 65;`, `
    listen ${HOST}:${port};
    location / {
      default_type text/plain;
      return 200 "hello world";
    }`);
}

const BUN_SERVER = `// generated by bench/net/main.ts: the bun peer of http-hello
const server = Bun.serve({
  hostname: '${HOST}',
  port: Number(process.argv[2] ?? 0),
  fetch() { return new Response('hello world'); },
});
console.log('listening on ${HOST}:' + server.port);
process.on('SIGTERM', () => process.exit(0));
`;

// ---- the suite ------------------------------------------------------------------------------------

async function echoCases(o: BenchOptions, cpu: ReturnType<typeof cpus>, notes: string[]): Promise<CaseResult[]> {
  const ms = Math.max(200, o.repeatMs);
  const lg = buildC('bench/net/loadgen.c', 'net-loadgen');
  const out: CaseResult[] = [];
  if (!lg.ok) {
    // Without the load generator nothing can be measured: report it, do not skip.
    for (const conns of [1, 50]) {
      const c = new Case(`echo64-c${conns}`, 'req/s').uringkit(NaN).missingPeer('node-net', lg.reason);
      if (conns === 50) c.target('node-net', 2);
      const r = c.build();
      r.info = `not measured: ${lg.reason}`;
      out.push(r);
    }
    return out;
  }
  if (lg.rebuilt) progress(`built ${lg.path}`);
  notes.push(`echo: bench/net/loadgen.c (epoll, one 64-byte message in flight per connection), ${ms} ms per repeat ` +
    `after ${LOADGEN_WARMUP_MS} ms of warm-up, pinned to CPU ${cpu.load || '(any)'}`);

  for (const conns of [1, 50]) {
    const name = `echo64-c${conns}`;
    progress(`${name}: starting servers`);
    const uk = await tryStart('uringkit', cpu.server, process.execPath, [path.join(dist, 'examples', 'echo-server.js'), '0', HOST]);
    const nn = await tryStart('node-net', cpu.server, process.execPath, [path.join(dist, 'bench', 'net', 'node-net-echo.js'), '0', HOST]);
    try {
      const c = new Case(name, 'req/s');
      const samplers: Record<string, Sampler> = {};
      if (typeof uk !== 'string') samplers['uringkit'] = echoSampler(lg.path, cpu.load, uk, conns, ms);
      if (typeof nn !== 'string') samplers['node-net'] = echoSampler(lg.path, cpu.load, nn, conns, ms);
      progress(`${name}: ${o.warmup} warm-up + ${o.repeats} measured rounds of ${Object.keys(samplers).join(', ')}`);
      const s = await interleave(samplers, o);
      c.uringkit(s['uringkit'] ?? NaN);
      if (typeof nn === 'string') c.missingPeer('node-net', nn);
      else {
        c.peer('node-net', s['node-net']!, `node:net echo server (bench/net/node-net-echo.ts, noDelay) on node ${process.version}` +
          `; ${cpuNote('node-net')}`);
      }
      if (conns === 50) c.target('node-net', 2);
      const r = c.build();
      r.info = typeof uk === 'string' ? `uringkit server failed: ${uk}` :
        `examples/echo-server.ts on node ${process.version}, ${conns} connection${conns > 1 ? 's' : ''}; ${cpuNote('uringkit')}`;
      cpuPerRequest.clear();
      out.push(r);
    } finally {
      await stopAll([uk, nn]);
    }
  }
  return out;
}

async function httpCase(o: BenchOptions, cpu: ReturnType<typeof cpus>, notes: string[]): Promise<CaseResult> {
  const name = `http-hello-c${WRK_CONNS}`;
  const c = new Case(name, 'req/s');
  c.target('node-http', 2).target('bun', 1.1).target('nginx', 1);
  const wrk = tool('wrk', ['wrk']);
  if (typeof wrk !== 'string') {
    c.uringkit(NaN);
    for (const p of ['node-http', 'bun', 'nginx']) c.missingPeer(p, `no load generator: ${wrk.missing}`);
    const r = c.build();
    r.info = `not measured: ${wrk.missing}`;
    return r;
  }
  notes.push(`http: wrk -t1 -c${WRK_CONNS} -d${WRK_SECONDS}s (keep-alive), pinned to CPU ${cpu.load || '(any)'}`);

  progress(`${name}: starting servers`);
  const servers: Array<Server | string> = [];
  const peers: Record<string, Server | string> = {};
  const peerNotes: Record<string, string> = {};
  const uk = await tryStart('uringkit', cpu.server, process.execPath, [path.join(dist, 'examples', 'http-hello.js'), '0', HOST]);
  servers.push(uk);
  peers['node-http'] = await tryStart('node-http', cpu.server, process.execPath,
    [path.join(dist, 'bench', 'net', 'node-http-hello.js'), '0', HOST]);
  peerNotes['node-http'] = `node:http hello world (bench/net/node-http-hello.ts), keep-alive, node ${process.version}`;

  const bun = bunBinary();
  if (typeof bun === 'string') {
    const script = path.join(buildDir, 'bun-hello.js');
    writeFileSync(script, BUN_SERVER);
    const v = spawnSync(bun, ['--version'], { encoding: 'utf8' }).stdout.trim();
    peers['bun'] = await tryStart('bun', cpu.server, bun, [script, '0']);
    peerNotes['bun'] = `Bun.serve hello world (bun ${v}, npm package bun in bench/.build)`;
  } else {
    peers['bun'] = bun.missing;
  }

  const nginx = tool('nginx', ['nginx-light'], ['/usr/sbin/nginx']);
  if (typeof nginx === 'string') {
    const prefix = path.join(buildDir, 'nginx');
    mkdirSync(path.join(prefix, 'tmp'), { recursive: true });
    const port = await freePort();
    const conf = path.join(prefix, 'nginx.conf');
    writeFileSync(conf, nginxConfig(prefix, port));
    const v = spawnSync(nginx, ['-v'], { encoding: 'utf8' }).stderr.trim().replace(/^nginx version: /, '');
    peers['nginx'] = await tryStart('nginx', cpu.server, nginx, ['-p', prefix, '-c', conf, '-e', path.join(prefix, 'error.log')],
      port);
    peerNotes['nginx'] = `${v}, 1 worker, return 200 "hello world", access_log off, keepalive_requests 1000000`;
  } else {
    peers['nginx'] = nginx.missing;
  }
  for (const p of Object.values(peers)) servers.push(p);

  try {
    const samplers: Record<string, Sampler> = {};
    if (typeof uk !== 'string') samplers['uringkit'] = wrkSampler(wrk, cpu.load, uk);
    for (const [p, s] of Object.entries(peers)) if (typeof s !== 'string') samplers[p] = wrkSampler(wrk, cpu.load, s);
    progress(`${name}: ${o.warmup} warm-up + ${o.repeats} measured rounds of ${Object.keys(samplers).join(', ')} ` +
      `(${WRK_SECONDS} s each)`);
    const s = await interleave(samplers, o);
    c.uringkit(s['uringkit'] ?? NaN);
    for (const [p, srv] of Object.entries(peers)) {
      if (typeof srv === 'string') c.missingPeer(p, srv);
      else {
        const errs = wrkErrors.get(p);
        c.peer(p, s[p]!, `${peerNotes[p]!}; ${cpuNote(p)}` + (errs ? `; wrk reported: ${errs.join(' | ')}` : ''));
      }
    }
    const r = c.build();
    const ukErrs = wrkErrors.get('uringkit');
    r.info = typeof uk === 'string' ? `uringkit server failed: ${uk}` :
      `examples/http-hello.ts on node ${process.version}; ${cpuNote('uringkit')}` +
      (ukErrs ? `; wrk reported: ${ukErrs.join(' | ')}` : '');
    return r;
  } finally {
    await stopAll(servers);
  }
}

/** Starts a server with extra environment variables (the child inherits process.env at spawn). */
async function tryStartWithEnv(vars: Record<string, string>, ...args: Parameters<typeof tryStart>): Promise<Server | string> {
  const saved: Record<string, string | undefined> = {};
  for (const k of Object.keys(vars)) saved[k] = process.env[k];
  Object.assign(process.env, vars);
  try {
    return await tryStart(...args);
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/**
 * The portable backend's cases (<case>-portable): the same uringkit server
 * forced onto Node's own I/O (UK_BACKEND=node) against the same Node peer.
 * Target: ratio >= 0.9 (at most 10% over Node's API used directly).
 */
async function portableCases(o: BenchOptions, cpu: ReturnType<typeof cpus>, notes: string[]): Promise<CaseResult[]> {
  const out: CaseResult[] = [];
  const env = { UK_BACKEND: 'node' };
  const lg = buildC('bench/net/loadgen.c', 'net-loadgen');
  // UK_NET_ONLY=portable runs both portable cases; otherwise they follow the echo / http groups.
  const want = (g: string): boolean => only(g) || (process.env['UK_NET_ONLY'] ?? '').split(',').includes('portable');
  if (want('echo')) {
    const name = 'echo64-c50-portable';
    if (!lg.ok) {
      const r = new Case(name, 'req/s').uringkit(NaN).missingPeer('node-net', lg.reason).target('node-net', 0.9).build();
      r.info = `not measured: ${lg.reason}`;
      out.push(r);
    } else {
      const ms = Math.max(200, o.repeatMs);
      progress(`${name}: starting servers`);
      cpuPerRequest.clear();
      const uk = await tryStartWithEnv(env, 'uringkit', cpu.server, process.execPath,
        [path.join(dist, 'examples', 'echo-server.js'), '0', HOST]);
      const nn = await tryStart('node-net', cpu.server, process.execPath,
        [path.join(dist, 'bench', 'net', 'node-net-echo.js'), '0', HOST]);
      try {
        const samplers: Record<string, Sampler> = {};
        if (typeof uk !== 'string') samplers['uringkit'] = echoSampler(lg.path, cpu.load, uk, 50, ms);
        if (typeof nn !== 'string') samplers['node-net'] = echoSampler(lg.path, cpu.load, nn, 50, ms);
        const s = await interleave(samplers, o);
        const c = new Case(name, 'req/s').uringkit(s['uringkit'] ?? NaN).target('node-net', 0.9);
        if (typeof nn === 'string') c.missingPeer('node-net', nn);
        else {
          c.peer('node-net', s['node-net']!, `node:net echo server (bench/net/node-net-echo.ts) on node ${process.version}` +
            `; ${cpuNote('node-net')}`);
        }
        const r = c.build();
        r.info = typeof uk === 'string' ? `uringkit server failed: ${uk}` :
          `examples/echo-server.ts with UK_BACKEND=node (the portable backend), 50 connections; ${cpuNote('uringkit')}` +
          cpuRatioNote('node-net');
        cpuPerRequest.clear();
        out.push(r);
      } finally {
        await stopAll([uk, nn]);
      }
    }
  }
  if (want('http')) {
    const name = `http-hello-c${WRK_CONNS}-portable`;
    const c = new Case(name, 'req/s').target('node-http', 0.9);
    const wrk = tool('wrk', ['wrk']);
    if (typeof wrk !== 'string') {
      const r = c.uringkit(NaN).missingPeer('node-http', `no load generator: ${wrk.missing}`).build();
      r.info = `not measured: ${wrk.missing}`;
      out.push(r);
      return out;
    }
    progress(`${name}: starting servers`);
    cpuPerRequest.clear(); // the io_uring http case's figures use the same server names
    const uk = await tryStartWithEnv(env, 'uringkit', cpu.server, process.execPath,
      [path.join(dist, 'examples', 'http-hello.js'), '0', HOST]);
    const nh = await tryStart('node-http', cpu.server, process.execPath,
      [path.join(dist, 'bench', 'net', 'node-http-hello.js'), '0', HOST]);
    try {
      const samplers: Record<string, Sampler> = {};
      if (typeof uk !== 'string') samplers['uringkit'] = wrkSampler(wrk, cpu.load, uk);
      if (typeof nh !== 'string') samplers['node-http'] = wrkSampler(wrk, cpu.load, nh);
      const s = await interleave(samplers, o);
      c.uringkit(s['uringkit'] ?? NaN);
      if (typeof nh === 'string') c.missingPeer('node-http', nh);
      else {
        c.peer('node-http', s['node-http']!, `node:http hello world (bench/net/node-http-hello.ts), node ${process.version}` +
          `; ${cpuNote('node-http')}`);
      }
      const r = c.build();
      r.info = typeof uk === 'string' ? `uringkit server failed: ${uk}` :
        `examples/http-hello.ts with UK_BACKEND=node (the portable backend); ${cpuNote('uringkit')}` +
        cpuRatioNote('node-http');
      cpuPerRequest.clear();
      out.push(r);
    } finally {
      await stopAll([uk, nh]);
    }
  }
  void notes;
  return out;
}

/** Message sizes of the send-zc cases. */
const ZC_SIZES: Array<[string, number]> = [['4k', 4 << 10], ['16k', 16 << 10], ['64k', 64 << 10], ['256k', 256 << 10],
  ['1m', 1 << 20], ['4m', 4 << 20]];

/**
 * send-zc-<size>: MB/s of one uringkit Socket writing `size`-byte messages
 * with SEND_ZC (`zeroCopy: true`) against the same sender with plain SEND
 * (peer `send`), to a C sink on the other CPU, over loopback TCP.
 */
async function zcCases(o: BenchOptions, cpu: ReturnType<typeof cpus>, notes: string[]): Promise<CaseResult[]> {
  const ms = Math.max(200, Math.min(o.repeatMs, 500));
  const sink = buildC('bench/net/sink.c', 'net-sink');
  const out: CaseResult[] = [];
  if (!sink.ok) {
    for (const [label] of ZC_SIZES) {
      const r = new Case(`send-zc-${label}`, 'MB/s').uringkit(NaN).missingPeer('send', sink.reason).build();
      r.info = `not measured: ${sink.reason}`;
      out.push(r);
    }
    return out;
  }
  const srv = await tryStart('sink', cpu.load, sink.path, [HOST]);
  if (typeof srv === 'string') {
    for (const [label] of ZC_SIZES) {
      const r = new Case(`send-zc-${label}`, 'MB/s').uringkit(NaN).missingPeer('send', srv).build();
      r.info = `not measured: ${srv}`;
      out.push(r);
    }
    return out;
  }
  notes.push(`send-zc: bench/net/zc-sender.ts (one Socket, two writes queued) pinned to CPU ${cpu.server || '(any)'} ` +
    `-> bench/net/sink.c pinned to CPU ${cpu.load || '(any)'}, loopback TCP, ${ms} ms per repeat after 100 ms of warm-up`);
  const sender = path.join(dist, 'bench', 'net', 'zc-sender.js');
  try {
    for (const [label, size] of ZC_SIZES) {
      const name = `send-zc-${label}`;
      const sample = (mode: 'send' | 'zc'): Sampler => async () => {
        alive(srv);
        const [c, a] = pinned(cpu.server, process.execPath, [sender, HOST, String(srv.port), String(size), mode, String(ms), '100']);
        const r = await run(c, a, ms + 30_000);
        const m = /bytes_per_s=([\d.]+)/.exec(r.stdout);
        if (!m) throw new Error(`zc-sender ${mode} ${size}: no result: ${r.stdout} ${r.stderr}`);
        return Number(m[1]) / 1e6;
      };
      progress(`${name}: ${o.warmup} warm-up + ${o.repeats} measured rounds of zc, send`);
      const s = await interleave({ zc: sample('zc'), send: sample('send') }, o);
      const c = new Case(name, 'MB/s').uringkit(s['zc']!);
      c.peer('send', s['send']!, `the same sender with plain IORING_OP_SEND (zeroCopy: false), ${size}-byte writes`);
      const r = c.build();
      r.info = `IORING_OP_SEND_ZC (zeroCopy: true), ${size}-byte writes; ratio > 1 would mean zero-copy is faster`;
      out.push(r);
    }
  } finally {
    await stopAll([srv]);
  }
  return out;
}

const BULK_BYTES = 64 << 20;

/** 64 MiB transfers per sample of the bulk cases (one transfer lasts ~15 ms: one alone is mostly noise). */
const BULK_PER_SAMPLE = 8;
/** The receive buffer of the bulk-recv cases (bench/net/bulk-peer.ts) and of their C ceiling. */
const BULK_RECV_BUFFER = 128 * 1024;

/**
 * bulk-recv-64m / bulk-recv-64m-nospin / bulk-recv-64m-iter / proxy-64m:
 * MB/s of 64 MiB over one loopback TCP connection from bench/net/sender.c
 * (on the load CPU), timed from connect to the receiver's close, so every
 * byte was read; a sample is BULK_PER_SAMPLE transfers (total bytes / total
 * time).
 *   bulk-recv-64m: a uringkit receiver using Socket.recv() into one reused
 *     buffer (the caller-owned-buffer path) vs a node:net 'data' receiver,
 *     and the set-up's ceiling: bench/net/sink.c spinning on a non-blocking
 *     recv() (no receiver can take the bytes faster than the sender and the
 *     kernel hand them over);
 *   bulk-recv-64m-nospin: the same receiver without the ring's bulk busy poll
 *     (RingOptions.bulkBusyPollUs 0), to show what that default buys;
 *   bulk-recv-64m-iter: `for await (const chunk of socket)`;
 *   proxy-64m: sender -> proxy (alone on the server CPU) -> bench/net/sink.c,
 *     examples/proxy.ts (Socket.pipeTo) vs a node:net pipe() proxy.
 */
async function bulkCases(o: BenchOptions, cpu: ReturnType<typeof cpus>, notes: string[]): Promise<CaseResult[]> {
  const names = ['bulk-recv-64m', 'bulk-recv-64m-nospin', 'bulk-recv-64m-iter', 'proxy-64m'];
  const sender = buildC('bench/net/sender.c', 'net-sender');
  const sink = buildC('bench/net/sink.c', 'net-sink');
  if (!sender.ok || !sink.ok) {
    const why = !sender.ok ? sender.reason : (sink as { reason: string }).reason;
    return names.map((n) => {
      const r = new Case(n, 'MB/s').uringkit(NaN).missingPeer('node-net', why).build();
      r.info = `not measured: ${why}`;
      return r;
    });
  }
  notes.push(`bulk: bench/net/sender.c (blocking send of 1 MiB blocks) pinned to CPU ${cpu.load || '(any)'}, ` +
    `${BULK_PER_SAMPLE} x 64 MiB per sample, each timed from connect to the receiver's close; receivers and proxies ` +
    `pinned to CPU ${cpu.server || '(any)'}; the proxy sink (bench/net/sink.c) shares the sender's CPU`);
  const peer = path.join(dist, 'bench', 'net', 'bulk-peer.js');
  /** CPU µs per MiB moved, per server name (receiver or proxy process, kernel work on its behalf included). */
  const cpuPerMiB = new Map<string, number[]>();
  const cpuInfo = (s: Server | string): string => {
    const v = typeof s === 'string' ? undefined : cpuPerMiB.get(s.name);
    return v === undefined || v.length === 0 ? '' : `; its CPU ${median(v).toFixed(0)} µs/MiB (median)`;
  };
  const sample = (s: Server): Sampler => async () => {
    alive(s);
    const [c, a] = pinned(cpu.load, sender.path, [HOST, String(s.port), String(BULK_BYTES), String(BULK_PER_SAMPLE)]);
    const cpu0 = treeCpuSeconds(s.child.pid!);
    const r = await run(c, a, 120_000);
    const cpu1 = treeCpuSeconds(s.child.pid!);
    const secs = [...r.stdout.matchAll(/seconds=([\d.]+)/g)].map((m) => Number(m[1]));
    if (secs.length !== BULK_PER_SAMPLE) throw new Error(`net-sender against ${s.name}: no result: ${r.stdout} ${r.stderr}`);
    const list = cpuPerMiB.get(s.name) ?? [];
    list.push(((cpu1 - cpu0) * 1e6) / ((BULK_PER_SAMPLE * BULK_BYTES) / (1 << 20)));
    cpuPerMiB.set(s.name, list);
    return (BULK_PER_SAMPLE * BULK_BYTES) / 1e6 / secs.reduce((x, y) => x + y, 0);
  };
  const out: CaseResult[] = [];
  /** One case: uringkit vs node:net (`target`: the issue's minimum ratio, or none), plus an optional ceiling peer. */
  const measure = async (name: string, target: number | undefined, uk: Server | string, nn: Server | string,
    ukInfo: string, nnInfo: string, extra: ReadonlyArray<Server | string> = [],
    ceiling?: { server: Server | string; info: string }): Promise<void> => {
    try {
      const samplers: Record<string, Sampler> = {};
      if (typeof uk !== 'string') samplers['uringkit'] = sample(uk);
      if (typeof nn !== 'string') samplers['node-net'] = sample(nn);
      if (ceiling !== undefined && typeof ceiling.server !== 'string') samplers['c-spin'] = sample(ceiling.server);
      progress(`${name}: ${o.warmup} warm-up + ${o.repeats} measured rounds of ${Object.keys(samplers).join(', ')}`);
      const v = await interleave(samplers, o);
      const c = new Case(name, 'MB/s').uringkit(v['uringkit'] ?? NaN);
      if (target !== undefined) c.target('node-net', target);
      if (typeof nn === 'string') c.missingPeer('node-net', nn);
      else c.peer('node-net', v['node-net']!, nnInfo + cpuInfo(nn));
      if (ceiling !== undefined) {
        if (typeof ceiling.server === 'string') c.missingPeer('c-spin', ceiling.server);
        else c.peer('c-spin', v['c-spin']!, ceiling.info + cpuInfo(ceiling.server));
      }
      const r = c.build();
      r.info = typeof uk === 'string' ? `uringkit failed: ${uk}` : ukInfo + cpuInfo(uk);
      out.push(r);
    } finally {
      cpuPerMiB.clear();
      await stopAll([uk, nn, ...extra, ...(ceiling !== undefined ? [ceiling.server] : [])]);
    }
  };
  const kib = BULK_RECV_BUFFER / 1024;
  for (const [name, mode, target, info] of [
    ['bulk-recv-64m', 'recv', 1.5,
      `Socket.recv() into one reused ${kib} KiB buffer, the default ring (bulk busy poll 50 us) (bench/net/bulk-peer.ts recv)`],
    ['bulk-recv-64m-nospin', 'recv-nospin', undefined,
      `Socket.recv() into one reused ${kib} KiB buffer on a ring with bulkBusyPollUs 0 (bench/net/bulk-peer.ts recv-nospin); no target`],
    ['bulk-recv-64m-iter', 'iter', undefined, 'for await over the Socket: fresh Buffers, adaptive chunks (bench/net/bulk-peer.ts iter); no target'],
  ] as const) {
    progress(`${name}: starting receivers`);
    const uk = await tryStart(`uringkit-${mode}`, cpu.server, process.execPath, [peer, mode]);
    const nn = await tryStart('node-net', cpu.server, process.execPath, [peer, 'node']);
    const ceiling = mode === 'recv'
      ? {
        server: await tryStart('c-spin', cpu.server, sink.path, [HOST, 'spin', String(BULK_RECV_BUFFER)]),
        info: `the set-up's ceiling, not a target: bench/net/sink.c spinning on recv(MSG_DONTWAIT) into a ${kib} KiB buffer, never sleeping`,
      }
      : undefined;
    await measure(name, target, uk, nn, `${info}, node ${process.version}`,
      `node:net receiver counting 'data' chunks (bench/net/bulk-peer.ts node), node ${process.version}`, [], ceiling);
  }
  progress('proxy-64m: starting the sink and the proxies');
  const sinkSrv = await tryStart('sink', cpu.load, sink.path, [HOST]);
  if (typeof sinkSrv === 'string') {
    const r = new Case('proxy-64m', 'MB/s').uringkit(NaN).missingPeer('node-net', sinkSrv).build();
    r.info = `not measured: ${sinkSrv}`;
    out.push(r);
    return out;
  }
  const uk = await tryStart('uringkit-proxy', cpu.server, process.execPath,
    [path.join(dist, 'examples', 'proxy.js'), String(sinkSrv.port)]);
  const nn = await tryStart('node-net-proxy', cpu.server, process.execPath, [peer, 'node-proxy', String(sinkSrv.port)]);
  await measure('proxy-64m', 1.5, uk, nn, `examples/proxy.ts (Socket.pipeTo both ways), node ${process.version}`,
    `node:net proxy, a.pipe(b) and b.pipe(a) (bench/net/bulk-peer.ts node-proxy), node ${process.version}`, [sinkSrv]);
  return out;
}

/** UK_NET_ONLY: a comma-separated list of case groups to run (echo, http, send-zc, bulk, portable); all by default. */
function only(group: string): boolean {
  const v = process.env['UK_NET_ONLY'];
  return v === undefined || v === '' || v.split(',').map((x) => x.trim()).includes(group);
}

export async function main(argv: string[]): Promise<void> {
  const { o, env, notes } = startSuite('net', argv, { repeatMs: 1000 }, false);
  const cpu = cpus(notes);
  notes.push(`servers pinned to CPU ${cpu.server || '(any)'}, each in its own process, started once per case ` +
    `and kept running across its rounds; the runner itself is on CPU ${cpusAllowed()}`);
  progress(`net suite: servers on CPU ${cpu.server || '(any)'}, load on CPU ${cpu.load || '(any)'}, ` +
    `${o.warmup} warm-up + ${o.repeats} repeats`);
  const cases: CaseResult[] = [];
  if (only('echo')) cases.push(...await echoCases(o, cpu, notes));
  if (only('http')) cases.push(await httpCase(o, cpu, notes));
  if (only('send-zc')) cases.push(...await zcCases(o, cpu, notes));
  if (only('bulk')) cases.push(...await bulkCases(o, cpu, notes));
  if (only('portable')) cases.push(...await portableCases(o, cpu, notes));
  emit({ suite: 'net', env, options: { repeats: o.repeats, repeatMs: o.repeatMs, warmup: o.warmup }, cases, notes }, o.json);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
