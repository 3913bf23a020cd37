/**
 * The docs' complete samples: fenced code blocks in README.md and docs/**\/*.md
 * preceded by a marker line, which promises the block is a whole program that
 * runs as written in a user's project (with uringkit installed).
 *
 *   <!-- sample: complete -->               runs and exits by itself (code 0)
 *   <!-- sample: complete, server tcp-echo -->  runs until killed: prints its
 *                                           address (host:port), echoes what it reads
 *   <!-- sample: complete, server http -->  runs until killed: prints its
 *                                           address, answers HTTP GET /
 *   <!-- sample: complete, file NAME -->    saved as NAME (another sample of the
 *                                           same page imports it as './NAME')
 *   <!-- sample: complete, module, file NAME -->  saved as NAME, not run itself
 *   <!-- sample: complete, io_uring -->     runs only where rings run on io_uring
 *                                           (it uses an io_uring-only option, e.g.
 *                                           `register: true`, `attachWq`); skipped,
 *                                           with the reason, on the portable backend
 *
 * The marker stands alone on the line right before the fence (```ts, ```js or
 * ```mjs). Servers read their port from `process.env.PORT` (the tests pass 0).
 * The samples of one page share one project directory, written in page order.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export type SampleKind = 'exits' | 'module' | 'tcp-echo' | 'http';

export interface Sample {
  /** Markdown file (relative to the repository root) and 1-based line of the fence. */
  readonly source: string;
  readonly line: number;
  readonly lang: 'ts' | 'js';
  readonly kind: SampleKind;
  readonly code: string;
  /** The file name the page gives it (`file NAME`), if any. */
  readonly fileName: string | undefined;
  /** The marker says `io_uring`: the sample runs only where rings run on io_uring. */
  readonly needsIoUring: boolean;
}

const MARKER = /^<!--\s*sample:\s*complete((?:\s*,\s*[^,>]+?)*)\s*-->\s*$/;

/** The marker's options: `server tcp-echo|http`, `module`, `file NAME`, `io_uring`. */
function markerOptions(relFile: string, line: number, text: string): { kind: SampleKind; fileName: string | undefined; needsIoUring: boolean } {
  let kind: SampleKind = 'exits';
  let fileName: string | undefined;
  let needsIoUring = false;
  for (const opt of text.split(',').map((o) => o.trim()).filter(Boolean)) {
    const [key, value, extra] = opt.split(/\s+/);
    if (key === 'server' && (value === 'tcp-echo' || value === 'http') && extra === undefined) kind = value;
    else if (key === 'module' && value === undefined) kind = 'module';
    else if (key === 'file' && value !== undefined && /^[\w.-]+$/.test(value) && extra === undefined) fileName = value;
    else if (key === 'io_uring' && value === undefined) needsIoUring = true;
    else throw new Error(`${relFile}:${line}: unknown sample marker option "${opt}"`);
  }
  return { kind, fileName, needsIoUring };
}

/** Every complete sample in one Markdown file. Throws on a marker not followed by a fence. */
export function samplesIn(root: string, relFile: string): Sample[] {
  const lines = fs.readFileSync(path.join(root, relFile), 'utf8').split('\n');
  const out: Sample[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = MARKER.exec(lines[i]!.trim());
    if (!m) continue;
    const fence = /^```(ts|typescript|js|mjs|javascript)\s*$/.exec(lines[i + 1]?.trim() ?? '');
    if (!fence) throw new Error(`${relFile}:${i + 1}: a sample marker must be followed by a \`\`\`ts or \`\`\`js fence`);
    const body: string[] = [];
    let j = i + 2;
    while (j < lines.length && lines[j]!.trim() !== '```') body.push(lines[j++]!);
    if (j >= lines.length) throw new Error(`${relFile}:${i + 2}: unterminated fence`);
    const lang = fence[1] === 'ts' || fence[1] === 'typescript' ? 'ts' : 'js';
    const { kind, fileName, needsIoUring } = markerOptions(relFile, i + 1, m[1] ?? '');
    out.push({ source: relFile, line: i + 2, lang, kind, fileName, needsIoUring, code: body.join('\n') + '\n' });
    i = j;
  }
  return out;
}

/** The Markdown files that may hold samples: README.md and docs/**\/*.md (not the generated docs/api). */
export function docFiles(root: string): string[] {
  const out = ['README.md'];
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(root, rel), { withFileTypes: true })) {
      const p = path.join(rel, e.name);
      if (e.isDirectory()) {
        if (p !== path.join('docs', 'api')) walk(p);
      } else if (e.name.endsWith('.md')) out.push(p);
    }
  };
  if (fs.existsSync(path.join(root, 'docs'))) walk('docs');
  return out.sort();
}

/** Every complete sample of the repository, in file order. */
export function allSamples(root: string): Sample[] {
  return docFiles(root).flatMap((f) => samplesIn(root, f));
}

/** The sample's file name: the page's `file NAME`, else one unique per source line (.ts or .mjs). */
export function sampleFileName(s: Sample): string {
  return s.fileName ?? `${s.source.replace(/[^A-Za-z0-9]+/g, '_')}_L${s.line}.${s.lang === 'ts' ? 'ts' : 'mjs'}`;
}

/** The first `host:port` a server printed (IPv4, [IPv6] or localhost), or undefined. */
export function printedAddress(output: string): { host: string; port: number } | undefined {
  const m = /(\d{1,3}(?:\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|localhost):(\d{1,5})/.exec(output);
  if (!m) return undefined;
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port: Number(m[2]) };
}

/**
 * Talks to a running sample server once: an echo round trip ('tcp-echo') or
 * GET / ('http'). Resolves with what came back; rejects after `ms`.
 */
export function probeServer(kind: 'tcp-echo' | 'http', host: string, port: number, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    let got = '';
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error(`no answer from ${host}:${port} within ${ms} ms (got ${JSON.stringify(got)})`));
    }, ms);
    const done = (err?: Error) => {
      clearTimeout(timer);
      sock.destroy();
      if (err) reject(err);
      else resolve(got);
    };
    sock.on('error', done);
    sock.setEncoding('utf8');
    sock.on('connect', () => {
      sock.write(kind === 'http' ? `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n` : 'ping from the docs test\n');
    });
    sock.on('data', (d: string) => {
      got += d;
      if (kind === 'tcp-echo' && got.includes('ping from the docs test\n')) done();
      if (kind === 'http' && /^HTTP\/1\.[01] \d{3} /.test(got) && got.includes('\r\n\r\n')) done();
    });
    sock.on('end', () => done());
  });
}

/** A sample's TypeScript turned into an ES module Node 20 runs (`await using` is lowered); JS is returned as is. */
export async function runnableSource(s: Sample): Promise<string> {
  if (s.lang === 'js') return s.code;
  const ts = (await import('typescript')).default;
  return ts.transpileModule(s.code, {
    compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, lib: ['lib.es2023.d.ts', 'lib.esnext.disposable.d.ts'] },
  }).outputText;
}

export interface RunSampleOptions {
  /** The project directory the sample runs in (uringkit resolvable from there). */
  cwd: string;
  /** The runnable .mjs/.js file. */
  file: string;
  node?: string;
  env?: NodeJS.ProcessEnv;
  /** A command to run Node under (e.g. the seccomp wrapper), or none. */
  wrapper?: string;
  /** Bound on the whole run (exit, or start + answer for servers). */
  timeoutMs: number;
}

/**
 * Runs one sample and throws a readable Error unless it behaved as its marker
 * promises: exited with code 0, or (servers) printed its address and answered.
 * The sample runs in its own process group, SIGKILLed at the end or at the bound.
 */
export async function runSample(s: Sample, o: RunSampleOptions): Promise<string> {
  const { spawn } = await import('node:child_process');
  const node = o.node ?? process.execPath;
  const argv = o.wrapper ? [o.wrapper, node, o.file] : [node, o.file];
  const child = spawn(argv[0]!, argv.slice(1), {
    cwd: o.cwd, env: { ...process.env, PORT: '0', ...o.env }, stdio: ['ignore', 'pipe', 'pipe'], detached: true,
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<number | string>((resolve) => {
    child.once('error', (e) => resolve(e.message));
    child.once('close', (code, signal) => resolve(code ?? String(signal)));
  });
  const killGroup = () => {
    try {
      if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
    } catch {
      // gone already
    }
  };
  const where = `${s.source}:${s.line}`;
  const started = Date.now();
  const bound = <T>(p: Promise<T>, ms: number) => Promise.race([p, new Promise<'timeout'>((r) => setTimeout(r, ms, 'timeout').unref())]);
  try {
    if (s.kind === 'exits' || s.kind === 'module') {
      const r = await bound(exited, o.timeoutMs);
      if (r === 'timeout') throw new Error(`${where}: still running after ${o.timeoutMs} ms\n${output}`);
      if (r !== 0) throw new Error(`${where}: exited with ${r}\n${output}`);
      return output;
    }
    let addr = printedAddress(output);
    while (addr === undefined) {
      if (Date.now() - started > o.timeoutMs) throw new Error(`${where}: printed no address within ${o.timeoutMs} ms\n${output}`);
      const r = await bound(exited, 50);
      if (r !== 'timeout') throw new Error(`${where}: exited (${r}) before serving\n${output}`);
      addr = printedAddress(output);
    }
    const answer = await probeServer(s.kind, addr.host, addr.port, Math.max(1000, o.timeoutMs - (Date.now() - started)));
    if (s.kind === 'tcp-echo' && !answer.includes('ping from the docs test\n')) {
      throw new Error(`${where}: the echo server answered ${JSON.stringify(answer)}\n${output}`);
    }
    if (s.kind === 'http' && !/^HTTP\/1\.[01] [23]\d\d /.test(answer)) {
      throw new Error(`${where}: the HTTP server answered ${JSON.stringify(answer.slice(0, 200))}\n${output}`);
    }
    return output;
  } finally {
    killGroup();
    await exited;
  }
}
