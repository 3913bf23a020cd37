/**
 * The packed npm package, made once per test run and shared by the suites that
 * install it (test/package, test/docs): `npm pack` runs in a copy of the
 * package (prepack builds the three prebuilds there, so the checkout's own
 * addon is never rebuilt under the other test files).
 *
 * scripts/test.mjs gives every file of one run the same UK_TEST_SHARED_DIR; the
 * first file to get there packs (a mkdir lock), the others wait for the
 * tarball. Run alone (node --test on one file), a file packs for itself.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { REPO_ROOT } from './child.js';
import { makeTempDir } from './tmp.js';

/** Runs a command; throws with its output unless it exits 0. */
export function runOk(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env, timeoutMs = 600_000): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: timeoutMs, maxBuffer: 64 << 20 });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal ?? r.error?.message}):\n${r.stdout}\n${r.stderr}`);
  }
  return r.stdout;
}

/** An environment whose PATH starts with `node`'s directory (npm is a Node script: it then runs on that Node). */
export function npmEnv(node: string): NodeJS.ProcessEnv {
  return { ...process.env, PATH: `${path.dirname(node)}:${process.env.PATH ?? ''}` };
}

function packInto(dest: string): string {
  const { dir: work, remove } = makeTempDir('uk-pack-');
  try {
    const pkg = path.join(work, 'pkg');
    for (const entry of ['package.json', 'binding.gyp', 'native', 'scripts', 'README.md', 'docs', 'bin', 'site', 'src']) {
      if (fs.existsSync(path.join(REPO_ROOT, entry))) fs.cpSync(path.join(REPO_ROOT, entry), path.join(pkg, entry), { recursive: true });
    }
    fs.cpSync(path.join(REPO_ROOT, 'dist', 'src'), path.join(pkg, 'dist', 'src'), { recursive: true });
    fs.cpSync(path.join(REPO_ROOT, 'node_modules'), path.join(pkg, 'node_modules'), { recursive: true, verbatimSymlinks: true });
    // prepare (tsc) needs the test/bench sources only for the repository's own build: compile just src here.
    fs.writeFileSync(path.join(pkg, 'tsconfig.json'), JSON.stringify({
      extends: path.join(REPO_ROOT, 'tsconfig.json'), include: ['src'], compilerOptions: { rootDir: '.', outDir: 'dist' },
    }));
    runOk('npm', ['pack', '--pack-destination', dest], pkg, npmEnv(process.execPath), 900_000);
    const tarball = fs.readdirSync(dest).find((f) => f.endsWith('.tgz'));
    if (tarball === undefined) throw new Error('npm pack produced no tarball');
    return path.join(dest, tarball);
  } finally {
    remove();
  }
}

let mine: string | undefined;

/** Absolute path of the packed tarball (uringkit-<version>.tgz) for this test run. */
export async function packedTarball(): Promise<string> {
  const shared = process.env.UK_TEST_SHARED_DIR;
  if (!shared) {
    mine ??= packInto(makeTempDir('uk-packed-').dir);
    return mine;
  }
  const dest = path.join(shared, 'packed');
  const done = path.join(shared, 'packed.done');
  const failed = path.join(shared, 'packed.failed');
  try {
    fs.mkdirSync(path.join(shared, 'packed.lock'));
  } catch {
    // Another file packs: wait for it (bounded).
    const until = Date.now() + 900_000;
    while (!fs.existsSync(done)) {
      if (fs.existsSync(failed)) throw new Error(`packing failed in another test file:\n${fs.readFileSync(failed, 'utf8')}`);
      if (Date.now() > until) throw new Error('waited 15 minutes for another test file to pack the package');
      await new Promise((r) => setTimeout(r, 500));
    }
    return fs.readFileSync(done, 'utf8');
  }
  try {
    fs.mkdirSync(dest, { recursive: true });
    const tgz = packInto(dest);
    fs.writeFileSync(done, tgz);
    return tgz;
  } catch (e) {
    fs.writeFileSync(failed, String((e as Error).message));
    throw e;
  }
}

/**
 * A fresh project directory with the packed package installed (npm install
 * --ignore-scripts: the prebuilt binary must work without the install script),
 * using `node` to run npm. Removed at process exit unless removed earlier.
 */
export async function projectWithPackage(node: string = process.execPath, extra: Record<string, unknown> = {}):
  Promise<{ dir: string; remove(): void }> {
  const tgz = await packedTarball();
  const project = makeTempDir('uk-app-');
  fs.writeFileSync(path.join(project.dir, 'package.json'),
    JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module', ...extra }));
  runOk('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', tgz], project.dir, npmEnv(node));
  return project;
}

/**
 * Makes `dir` (a project made by projectWithPackage) a strict TypeScript
 * project over `include`: the repository's own typescript and @types/node
 * linked in, a NodeNext tsconfig with noEmit.
 */
export function typeScriptProject(dir: string, include: string[]): void {
  fs.mkdirSync(path.join(dir, 'node_modules', '@types'), { recursive: true });
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules', 'typescript'), path.join(dir, 'node_modules', 'typescript'), 'dir');
  fs.symlinkSync(path.join(REPO_ROOT, 'node_modules', '@types', 'node'), path.join(dir, 'node_modules', '@types', 'node'), 'dir');
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', lib: ['ES2023', 'ESNext.Disposable'], module: 'NodeNext', moduleResolution: 'NodeNext',
      strict: true, noEmit: true, skipLibCheck: true, types: ['node'],
    },
    include,
  }));
}
