/**
 * Installing from a git URL gives a built package. npm clones the repository,
 * installs its devDependencies there and runs `prepare` (tsc), then packs the
 * clone by package.json "files". This runs the same steps on a fresh clone of
 * the committed tree (no dist/, no build/): `npm run prepare`, then
 * `npm pack --dry-run` must list the compiled entry points, and the clone's
 * built dist/ must load. (The whole `npm install git+file://...` was run by
 * hand: about 3 minutes here, over this runner's 180 s per file; it gave the
 * same dist/ and a working package.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { REPO_ROOT } from '../helpers/child.js';
import { npmEnv, runOk } from '../helpers/pack.js';
import { makeTempDir } from '../helpers/tmp.js';

const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  name: string; main: string; types: string; bin: Record<string, string>; scripts: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
};
const git = spawnSync('git', ['-C', REPO_ROOT, 'rev-parse', 'HEAD'], { encoding: 'utf8' });
const skip = git.status === 0 ? false : 'the repository is not a git checkout here: there is no git tree to install from';

test('a fresh clone: prepare builds dist/, npm pack takes it, and the built package loads', { timeout: 170_000, skip }, () => {
  assert.match(pkg.scripts.prepare ?? '', /\btsc\b/, 'a prepare script compiles the TypeScript (npm runs it for git installs)');
  const work = makeTempDir('uk-git-');
  try {
    const clone = path.join(work.dir, 'clone');
    runOk('git', ['clone', '--quiet', '--no-local', '--no-checkout', REPO_ROOT, clone], work.dir);
    runOk('git', ['checkout', '--quiet', git.stdout.trim()], clone);
    assert.ok(!fs.existsSync(path.join(clone, 'dist')), 'a clone has no dist/ (it is not committed)');
    // npm installs the devDependencies in its clone; the checkout's own stand in for them.
    fs.symlinkSync(path.join(REPO_ROOT, 'node_modules'), path.join(clone, 'node_modules'), 'dir');
    const env = npmEnv(process.execPath);
    runOk('npm', ['run', 'prepare'], clone, env, 160_000);
    const listing = JSON.parse(runOk('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], clone, env)) as
      { files: { path: string }[] }[];
    const files = new Set(listing[0]!.files.map((f) => f.path));
    const entries = [pkg.main, pkg.types, ...Object.values(pkg.bin),
      ...Object.values(pkg.exports).flatMap((v) => (typeof v === 'string' ? [v] : Object.values(v)))];
    for (const e of entries) assert.ok(files.has(e.replace(/^\.\//, '')), `the packed clone lacks ${e}`);
    assert.ok(![...files].some((f) => f.startsWith('dist/test/') || f.startsWith('src/')), 'no tests or TypeScript sources packed');
    // The clone's own build loads (the addon comes from the checkout: the clone has not compiled one).
    const out = runOk(process.execPath, ['--input-type=module', '-e', `
      const m = await import(${JSON.stringify(path.join(clone, pkg.main))});
      const s = await import(${JSON.stringify(path.join(clone, 'dist/src/serve/index.js'))});
      console.log(typeof m.Socket.prototype.end, typeof m.connect, typeof s.StaticServer.start);`], clone,
    { ...env, UK_BACKEND: 'node' });
    assert.equal(out.trim(), 'function function function');
  } finally {
    work.remove();
  }
});
