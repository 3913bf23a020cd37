/**
 * Every sample the docs mark complete (`<!-- sample: complete ... -->` before
 * the fence; the grammar is in test/helpers/samples.ts) runs as written in a
 * user's project: the packed package is installed into a fresh project
 * (--ignore-scripts: the prebuild), TypeScript samples are type-checked there
 * with the project's TypeScript (strict, NodeNext) and run as the ES modules
 * tsc makes of them, JavaScript samples run as they are. Each sample is bounded
 * in time; servers must print their address and answer, then are killed.
 *
 * @file-timeout 1500
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { REPO_ROOT } from '../helpers/child.js';
import { skipUnlessIoUring } from '../helpers/io-uring-probe.js';
import { projectWithPackage, typeScriptProject } from '../helpers/pack.js';
import { allSamples, runnableSource, runSample, sampleFileName, type Sample } from '../helpers/samples.js';

const samples = allSamples(REPO_ROOT);
const pages = [...new Set(samples.map((s) => s.source))];
let project: { dir: string; remove(): void };

/** The directory a page's samples share (they may import each other by file name). */
const pageDir = (source: string) => path.join(project.dir, 'pages', source.replace(/[^A-Za-z0-9]+/g, '_'));

before(async () => {
  project = await projectWithPackage();
  // The project's TypeScript and Node types: the repository's own devDependencies.
  typeScriptProject(project.dir, ['pages/**/*.ts']);
  for (const s of samples) {
    const dir = pageDir(s.source);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, sampleFileName(s)), s.code);
    if (s.lang === 'ts') fs.writeFileSync(path.join(dir, runnableName(s)), await runnableSource(s));
  }
});
after(() => project?.remove());

/** The file that runs: the sample itself (JS) or the ES module made from it (TS). */
function runnableName(s: Sample): string {
  return s.lang === 'ts' ? sampleFileName(s).replace(/\.ts$/, '.run.mjs') : sampleFileName(s);
}

test('the docs mark complete samples (README and the guides)', () => {
  assert.ok(samples.some((s) => s.source === 'README.md'), 'README.md has no sample marked complete');
  assert.ok(samples.length >= 10, `only ${samples.length} samples are marked complete`);
});

test('every TypeScript sample type-checks in a user project (strict, NodeNext)', { timeout: 300_000 }, () => {
  if (!samples.some((s) => s.lang === 'ts')) return;
  const tsc = path.join(project.dir, 'node_modules', 'typescript', 'bin', 'tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: project.dir, encoding: 'utf8', timeout: 240_000 });
  assert.equal(r.status, 0, `tsc found errors in the samples (pages/<page>/<file>_L<line>.ts):\n${r.stdout}\n${r.stderr}`);
});

for (const page of pages) {
  describe(page, () => {
    for (const s of samples.filter((x) => x.source === page && x.kind !== 'module')) {
      test(`${s.source}:${s.line} (${s.kind === 'exits' ? 'runs and exits' : `${s.kind} server answers`})`, {
        timeout: 120_000,
        skip: s.needsIoUring ? skipUnlessIoUring('the sample uses an io_uring-only option (its marker says io_uring)') : undefined,
      }, async () => {
          const dir = pageDir(s.source);
          // The sample's own temporary files (some guides mkdtemp) go inside the project, removed with it.
          const tmp = path.join(project.dir, 'tmp');
          fs.mkdirSync(tmp, { recursive: true });
          await runSample(s, { cwd: dir, file: path.join(dir, runnableName(s)), timeoutMs: 90_000, env: { TMPDIR: tmp } });
        });
    }
  });
}
