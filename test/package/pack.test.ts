/**
 * The npm package installs and runs in someone else's project: `npm pack`
 * (with the prebuilt binary), install the tarball into a fresh temporary
 * project, and run an example there on every Node we can find (20 and 24 in
 * CI: UK_NODE24 names the Node 24 binary).
 *
 * Packing happens in a copy of the package so this test never rebuilds the
 * addon under the other test files.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const work = mkdtempSync(path.join(os.tmpdir(), 'uk-pack-'));
after(() => rmSync(work, { recursive: true, force: true }));

function run(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): string {
  const r = spawnSync(cmd, args, { cwd, env, encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, `${cmd} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function npmEnv(node: string): NodeJS.ProcessEnv {
  // npm is a Node script: run it with the Node under test first on PATH.
  return { ...process.env, PATH: `${path.dirname(node)}:${process.env.PATH ?? ''}` };
}

test('npm pack → install into a fresh project → the example runs on each Node', { timeout: 600_000 }, () => {
  const pkg = path.join(work, 'pkg');
  for (const entry of ['package.json', 'binding.gyp', 'native', 'scripts', 'README.md', 'docs', 'tsconfig.json', 'src']) {
    cpSync(path.join(root, entry), path.join(pkg, entry), { recursive: true });
  }
  cpSync(path.join(root, 'dist', 'src'), path.join(pkg, 'dist', 'src'), { recursive: true });
  cpSync(path.join(root, 'node_modules'), path.join(pkg, 'node_modules'), { recursive: true, verbatimSymlinks: true });
  // prepack builds the prebuilt binary; prepare (tsc) needs the test/bench sources only
  // for the repository's own build, so compile just src here.
  writeFileSync(path.join(pkg, 'tsconfig.json'), JSON.stringify({
    extends: path.join(root, 'tsconfig.json'), include: ['src'], compilerOptions: { rootDir: '.', outDir: 'dist' },
  }));
  run('npm', ['pack', '--pack-destination', work], pkg, npmEnv(process.execPath));
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball, 'npm pack produced no tarball');
  const listing = run('tar', ['tzf', path.join(work, tarball)], work);
  assert.match(listing, /package\/prebuilds\/linux-x64\/uringkit.*\.node/, 'the tarball must carry the prebuilt binary');
  assert.match(listing, /package\/dist\/src\/index\.js/);
  assert.doesNotMatch(listing, /package\/dist\/test\//);

  const nodes = [...new Set([process.execPath, process.env.UK_NODE20, process.env.UK_NODE24, '/usr/bin/node'])]
    .filter((n): n is string => typeof n === 'string' && existsSync(n));
  for (const node of nodes) {
    const app = mkdtempSync(path.join(work, 'app-'));
    writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', type: 'module' }));
    // --ignore-scripts: the prebuilt binary must work without any install script.
    run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', path.join(work, tarball)], app, npmEnv(node));
    writeFileSync(path.join(app, 'main.js'), `
      import { Ring, readFile, writeFile } from 'uringkit';
      const ring = Ring.current();
      await Promise.all(Array.from({ length: 32 }, () => ring.nop()));
      await writeFile('out.txt', 'hello from ' + process.version);
      console.log(await readFile('out.txt', { encoding: 'utf8' }), ring.stats().enters > 0);
      await ring.close();
    `);
    const out = run(node, ['main.js'], app, npmEnv(node));
    const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
    assert.equal(out.trim(), `hello from ${version} true`, `example output on ${node}`);
  }
});
