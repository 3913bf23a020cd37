/**
 * serve suite: `uringkit serve` against nginx, a node:http server and bun,
 * measured with wrk (requests/s, median of the repeats). Every server runs
 * pinned to one CPU (`taskset -c 0`), wrk on another (`taskset -c 1`), one
 * worker / thread each. See bench/README.md for what each case measures.
 *
 * Tools are installed when missing: wrk and nginx from Debian (apt-get, as
 * root), bun from the npm registry into bench/.build/bun. A peer that still
 * cannot run is reported missing with the reason; without wrk nothing can be
 * measured and the suite fails.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { buildDir, repoRoot } from '../lib/cbuild.js';
import { freePort, nginxConf, startServer as startPeer, stopServer, type Server } from '../lib/server.js';
import { startSuite } from '../lib/suite.js';
import {
  Case, cpusAllowed, emit, interleave, progress, type CaseResult, type Sampler,
} from '../lib/report.js';

const here = path.dirname(fileURLToPath(import.meta.url)); // dist/bench/serve
const work = path.join(buildDir, 'serve');
const www = path.join(work, 'www');
const SERVER_CPU = process.env['UK_BENCH_SERVER_CPU'] ?? '0';
const CLIENT_CPU = process.env['UK_BENCH_CLIENT_CPU'] ?? '1';
const CONNECTIONS = 50;

// ---- tools ------------------------------------------------------------------------

function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  const p = r.stdout?.trim();
  return r.status === 0 && p ? p : undefined;
}

/** Finds `cmd`, or installs the first Debian package of `packages` that works (root only). */
function ensureDebian(cmd: string, packages: string[]): { path: string } | { reason: string } {
  const found = which(cmd) ?? (existsSync(`/usr/sbin/${cmd}`) ? `/usr/sbin/${cmd}` : undefined);
  if (found !== undefined) return { path: found };
  if (process.getuid?.() !== 0) return { reason: `${cmd} not found and not root: install it with apt-get install ${packages[0]}` };
  progress(`${cmd} not found: installing ${packages.join(' or ')} with apt-get`);
  let last = '';
  for (const pkg of packages) {
    let r = spawnSync('apt-get', ['install', '-y', '-q', pkg], { encoding: 'utf8' });
    if (r.status !== 0) {
      spawnSync('apt-get', ['update', '-q'], { encoding: 'utf8' });
      r = spawnSync('apt-get', ['install', '-y', '-q', pkg], { encoding: 'utf8' });
    }
    if (r.status === 0) {
      const p = which(cmd) ?? (existsSync(`/usr/sbin/${cmd}`) ? `/usr/sbin/${cmd}` : undefined);
      if (p !== undefined) return { path: p };
    }
    last = (r.stderr || r.error?.message || '').trim().split('\n').slice(-2).join(' ');
  }
  return { reason: `${cmd} not found and apt-get install ${packages.join('/')} failed: ${last}` };
}

/** bun from the npm registry (package `bun`), installed into bench/.build/ (shared with the net suite). */
function ensureBun(): { path: string; version: string } | { reason: string } {
  const bin = path.join(buildDir, 'node_modules', '.bin', 'bun');
  if (!existsSync(bin)) {
    progress('bun not found in bench/.build: npm install --prefix bench/.build bun');
    mkdirSync(buildDir, { recursive: true });
    const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefix', buildDir, 'bun'], { encoding: 'utf8' });
    if (r.status !== 0 || !existsSync(bin)) {
      return { reason: `npm install bun failed (status ${r.status}): ${(r.stderr || r.error?.message || '').trim().slice(-400)}` };
    }
  }
  const v = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  if (v.status !== 0) return { reason: `bun does not run here: ${(v.stderr || v.error?.message || '').trim().slice(-400)}` };
  return { path: bin, version: v.stdout.trim() };
}

// ---- servers --------------------------------------------------------------------------

/** One GET /1k.bin; resolves with the status (rejects when nothing answers). */
function probe(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' }, () => {
      s.write('GET /1k.bin HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n');
    });
    let data = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (data += d));
    s.on('end', () => resolve(Number(/^HTTP\/1\.[01] (\d+)/.exec(data)?.[1] ?? 0)));
    s.on('error', reject);
  });
}

/** Starts `cmd args` pinned to the server CPU; resolves once it answers GET /1k.bin with 200. */
function startServer(name: string, port: number, cmd: string, args: string[]): Promise<Server> {
  return startPeer(name, SERVER_CPU, cmd, args, {
    port,
    ready: async (p) => {
      const status = await probe(p).catch(() => 0);
      if (status !== 0 && status !== 200) throw new Error(`${name} answered ${status} to GET /1k.bin`);
      return status === 200;
    },
  });
}

function nginxConfig(port: number): string {
  const prefix = path.join(work, 'nginx');
  mkdirSync(path.join(prefix, 'tmp'), { recursive: true });
  const conf = path.join(prefix, 'nginx.conf');
  writeFileSync(conf, nginxConf('bench/serve/main.ts', prefix, `
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    keepalive_requests 1000000;
    keepalive_timeout 30s;
    open_file_cache max=1000 inactive=30s;
    open_file_cache_valid 1s;
    types { application/octet-stream bin; }`, `
    listen 127.0.0.1:${port};
    root ${www};`));
  return conf;
}

// ---- wrk --------------------------------------------------------------------------------

/** One wrk run; resolves with requests/s. Non-2xx answers or a failed run throw. */
function wrk(wrkPath: string, url: string, seconds: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const args = ['-c', CLIENT_CPU, wrkPath, '-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, url];
    const child = spawn('taskset', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
      const bad = /Non-2xx or 3xx responses:\s+(\d+)/.exec(out);
      if (code !== 0 || m === null) return reject(new Error(`wrk ${url} failed (exit ${code}): ${out.trim()}`));
      if (bad !== null) return reject(new Error(`wrk ${url}: ${bad[1]} non-2xx responses`));
      resolve(Number(m[1]));
    });
  });
}

// ---- the suite ------------------------------------------------------------------------------

interface Subject {
  name: string;
  start: () => Promise<Server>;
  note: string;
}

export async function main(argv: string[]): Promise<void> {
  const { o, env, notes } = startSuite('serve', argv, { repeats: 3, repeatMs: 5000, warmup: 1 }, false);
  const seconds = Math.max(1, Math.round(o.repeatMs / 1000));
  progress(`serve suite: servers on CPU ${SERVER_CPU}, wrk -t1 -c${CONNECTIONS} -d${seconds}s on CPU ${CLIENT_CPU}, ` +
    `${o.warmup} warm-up + ${o.repeats} measured runs per subject`);
  if (which('taskset') === undefined) throw new Error('taskset not found (util-linux): cannot pin the servers and wrk');
  const allowed = cpusAllowed();
  notes.push(`servers pinned with taskset -c ${SERVER_CPU}, wrk with taskset -c ${CLIENT_CPU} ` +
    `(the runner itself: CPUs ${allowed})`);

  const wrkTool = ensureDebian('wrk', ['wrk']);
  if ('reason' in wrkTool) throw new Error(`cannot measure without wrk: ${wrkTool.reason}`);
  const nginx = ensureDebian('nginx', ['nginx-light', 'nginx']);
  const bun = ensureBun();

  mkdirSync(www, { recursive: true });
  for (const [name, size] of [['1k.bin', 1024], ['1m.bin', 1024 * 1024]] as const) {
    const p = path.join(www, name);
    if (!existsSync(p) || readFileSync(p).length !== size) writeFileSync(p, randomBytes(size));
  }

  const node = process.execPath;
  const cli = path.join(repoRoot, 'bin', 'uringkit.js');
  const uk = (extra: string[]) => async (): Promise<Server> => {
    const port = await freePort();
    return startServer(`uringkit${extra.join('')}`, port, node, [cli, 'serve', www, '--port', String(port), ...extra]);
  };
  const missing = new Map<string, string>();
  const subjects: Subject[] = [
    { name: 'uringkit', start: uk([]), note: '' },
    { name: 'uringkit-read', start: uk(['--cache-mb', '0']), note: '' },
    { name: 'uringkit-stat', start: uk(['--cache-ttl', '0']), note: '' },
    {
      // serve-1k-portable: the default server forced onto the portable backend (Node's own I/O).
      name: 'uringkit-portable',
      note: '',
      start: async () => {
        const saved = process.env['UK_BACKEND'];
        process.env['UK_BACKEND'] = 'node';
        try {
          return await uk([])();
        } finally {
          if (saved === undefined) delete process.env['UK_BACKEND'];
          else process.env['UK_BACKEND'] = saved;
        }
      },
    },
    {
      name: 'node-http',
      note: `node:http + fs.stat + fs.createReadStream (bench/serve/node-http-peer.ts), node ${process.version}`,
      start: async () => {
        const port = await freePort();
        return startServer('node-http', port, node, [path.join(here, 'node-http-peer.js'), www, String(port)]);
      },
    },
  ];
  if ('reason' in nginx) missing.set('nginx', nginx.reason);
  else {
    const v = spawnSync(nginx.path, ['-v'], { encoding: 'utf8' });
    const version = (v.stderr || v.stdout || '').trim().replace(/^nginx version:\s*/, '');
    subjects.push({
      name: 'nginx',
      note: `${version}: worker_processes 1, sendfile on, tcp_nopush on, access_log off, keepalive_requests 1000000, ` +
        'open_file_cache (valid 1s); config generated in bench/.build/serve/nginx/',
      start: async () => {
        const port = await freePort();
        return startServer('nginx', port, nginx.path, ['-p', path.join(work, 'nginx'), '-c', nginxConfig(port)]);
      },
    });
  }
  if ('reason' in bun) missing.set('bun', bun.reason);
  else {
    subjects.push({
      name: 'bun',
      note: `bun ${bun.version}: Bun.serve + new Response(Bun.file(path)) (bench/serve/bun-peer.mjs)`,
      start: async () => {
        const port = await freePort();
        return startServer('bun', port, bun.path, [path.join(repoRoot, 'bench', 'serve', 'bun-peer.mjs'), www, String(port)]);
      },
    });
  }

  const running = new Map<string, Server>();
  const cases: CaseResult[] = [];
  try {
    for (const s of subjects) {
      try {
        running.set(s.name, await s.start());
        progress(`${s.name} listening on ${running.get(s.name)!.port}`);
      } catch (e) {
        missing.set(s.name, (e as Error).message);
        progress(`${s.name} MISSING: ${(e as Error).message}`);
      }
    }
    if (!running.has('uringkit')) throw new Error(`uringkit serve did not start: ${missing.get('uringkit')}`);
    const noteOf = (name: string): string => subjects.find((s) => s.name === name)?.note ?? '';

    const measure = async (file: string, names: string[]): Promise<Record<string, number[]>> => {
      const samplers: Record<string, Sampler> = {};
      for (const n of names) {
        const srv = running.get(n);
        if (srv === undefined) continue;
        samplers[n] = async () => {
          const v = await wrk(wrkTool.path, `http://127.0.0.1:${srv.port}/${file}`, seconds);
          progress(`${file} ${n}: ${Math.round(v)} req/s`);
          return v;
        };
      }
      return interleave(samplers, o);
    };

    // -- 1 KiB ---------------------------------------------------------------------------
    const s1 = await measure('1k.bin', ['uringkit', 'nginx', 'node-http', 'bun', 'uringkit-read', 'uringkit-stat',
      'uringkit-portable']);
    const c1 = new Case('serve-1k', 'req/s').uringkit(s1['uringkit']!);
    for (const p of ['nginx', 'node-http', 'bun']) {
      if (s1[p] !== undefined) c1.peer(p, s1[p]!, noteOf(p));
      else c1.missingPeer(p, missing.get(p) ?? 'not measured');
    }
    c1.target('node-http', 1.5).target('nginx', 1);
    const r1 = c1.build();
    r1.info = 'default server: the whole response (head + body) is one pre-built Buffer from the in-memory cache';
    cases.push(r1);
    {
      const c = new Case('serve-1k-portable', 'req/s').target('node-http', 0.9);
      if (s1['uringkit-portable'] === undefined) c.uringkit(NaN);
      else c.uringkit(s1['uringkit-portable']!);
      if (s1['node-http'] !== undefined) c.peer('node-http', s1['node-http']!, noteOf('node-http'));
      else c.missingPeer('node-http', missing.get('node-http') ?? 'not measured');
      const r = c.build();
      r.info = s1['uringkit-portable'] === undefined
        ? `uringkit serve on the portable backend did not start: ${missing.get('uringkit-portable') ?? 'not measured'}`
        : 'the default server (serve-1k) with UK_BACKEND=node: the portable backend over node:net and node:fs';
      cases.push(r);
    }
    for (const [name, subject, what] of [
      ['serve-1k-read', 'uringkit-read', 'no byte cache (--cache-mb 0): open + read + close on the ring per request, then one send'],
      ['serve-1k-stat', 'uringkit-stat', 'bytes cached but no metadata TTL (--cache-ttl 0): realpath + statx per request'],
    ] as const) {
      const c = new Case(name, 'req/s');
      if (s1[subject] === undefined) {
        c.uringkit(NaN).missingPeer('cached', missing.get(subject) ?? 'not measured');
      } else {
        c.uringkit(s1[subject]!).peer('cached', s1['uringkit']!, 'the default server (serve-1k), same run');
      }
      const r = c.build();
      r.info = what;
      cases.push(r);
    }

    // -- 1 MiB ---------------------------------------------------------------------------
    const s2 = await measure('1m.bin', ['uringkit', 'nginx', 'node-http', 'bun']);
    const c2 = new Case('serve-1m', 'req/s').uringkit(s2['uringkit']!);
    for (const p of ['nginx', 'node-http', 'bun']) {
      if (s2[p] !== undefined) c2.peer(p, s2[p]!, noteOf(p));
      else c2.missingPeer(p, missing.get(p) ?? 'not measured');
    }
    c2.target('nginx', 1);
    const r2 = c2.build();
    r2.info = 'head with MSG_MORE, then sendFile (splice file → pipe → socket)';
    cases.push(r2);
  } finally {
    await Promise.all([...running.values()].map(stopServer));
  }
  notes.push(`uringkit serve: 1 worker (bin/uringkit.js serve), node ${process.version}; ` +
    `wrk -t1 -c${CONNECTIONS} -d${seconds}s, requests/s`);
  emit({ suite: 'serve', env, options: { repeats: o.repeats, repeatMs: o.repeatMs, warmup: o.warmup }, cases, notes }, o.json);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await main(process.argv.slice(2));
}
