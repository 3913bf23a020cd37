/**
 * The mock lives behind the `uringkit/testing` subpath export: `import
 * 'uringkit'` loads none of it, `import 'uringkit/testing'` resolves through
 * package.json "exports" and gives MockBackend, withMock and MOCK_OP_NAMES,
 * and `npm pack` ships the files it needs.
 *
 * Which modules a child process loads is recorded by a module `load` hook
 * (module.register) that appends every URL to a file.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

/** The package root (this file is dist/test/backend/testing-entry.test.js). */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
const work = mkdtempSync(path.join(os.tmpdir(), 'uk-testing-entry-'));
after(() => rmSync(work, { recursive: true, force: true }));

const hooks = path.join(work, 'hooks.mjs');
writeFileSync(hooks, `
import { appendFileSync } from 'node:fs';
export async function load(url, context, next) {
  appendFileSync(process.env.UK_LOAD_LOG, url + '\\n');
  return next(url, context);
}
`);
const register = path.join(work, 'register.mjs');
writeFileSync(register, `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(hooks).href)});\n`);

let runs = 0;

/** Runs `code` (an ES module) in a child whose parent URL is inside the package; returns its stdout and the module URLs it loaded. */
function runChild(code: string): { stdout: string; loaded: string[] } {
  const log = path.join(work, `loaded-${++runs}.txt`);
  writeFileSync(log, '');
  // A module file inside the package root, so that `import 'uringkit'` resolves by self-reference.
  const main = path.join(root, `.uk-testing-entry-${process.pid}-${runs}.mjs`);
  writeFileSync(main, code);
  try {
    const r = spawnSync(process.execPath, ['--import', pathToFileURL(register).href, main], {
      cwd: root, encoding: 'utf8', timeout: 60_000, env: { ...process.env, UK_LOAD_LOG: log },
    });
    assert.equal(r.status, 0, `child failed (status ${r.status}, signal ${r.signal}):\n${r.stdout}\n${r.stderr}`);
    const loaded = readFileSync(log, 'utf8').split('\n').filter((l) => l.startsWith('file:'));
    return { stdout: r.stdout, loaded };
  } finally {
    rmSync(main, { force: true });
  }
}

const isMock = (url: string): boolean => /\/dist\/src\/(backend\/mock\/|testing\.js|testing\/)/.test(url);

describe('uringkit/testing subpath', () => {
  test("import 'uringkit' loads no module of the mock", () => {
    const { stdout, loaded } = runChild(`
      const m = await import('uringkit');
      console.log(JSON.stringify(['MockBackend', 'withMock', 'MOCK_OP_NAMES'].filter((k) => k in m)), typeof m.Ring);
    `);
    assert.equal(stdout.trim(), '[] function', 'the root entry exports no mock name');
    // The hook did see the runtime load (so an empty mock list is not an empty log).
    assert.ok(loaded.some((u) => u.endsWith('/dist/src/index.js')), `root entry not in the load log:\n${loaded.join('\n')}`);
    assert.ok(loaded.some((u) => u.endsWith('/dist/src/ring/ring.js')));
    assert.deepEqual(loaded.filter(isMock), [], 'mock modules loaded by the root entry');
  });

  test("import 'uringkit/testing' resolves through package.json exports and loads the mock", () => {
    const { stdout, loaded } = runChild(`
      const t = await import('uringkit/testing');
      const { Ring } = await import('uringkit');
      const mock = new t.MockBackend({ seed: 1 });
      const ring = new Ring({ backend: mock });
      await ring.nop();
      await ring.close();
      console.log(typeof t.MockBackend, typeof t.withMock, t.MOCK_OP_NAMES.includes('read'), mock.calls('nop').length);
    `);
    assert.equal(stdout.trim(), 'function function true 1');
    assert.ok(loaded.some((u) => u.endsWith('/dist/src/testing.js')));
    assert.ok(loaded.some((u) => u.endsWith('/dist/src/backend/mock/engine.js')));
  });

  test('package.json "exports" names the subpath with types, and npm pack ships what it needs', () => {
    const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
      exports: Record<string, { types?: string; default?: string } | string>;
    };
    assert.deepEqual(pkg.exports['./testing'], { types: './dist/src/testing.d.ts', default: './dist/src/testing.js' });
    const r = spawnSync('npm', ['pack', '--dry-run', '--ignore-scripts', '--json'], {
      cwd: root, encoding: 'utf8', timeout: 120_000,
    });
    assert.equal(r.status, 0, `npm pack --dry-run failed:\n${r.stderr}`);
    const files = new Set((JSON.parse(r.stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path));
    const { loaded } = runChild(`await import('uringkit/testing');`);
    const needed = loaded.filter((u) => u.includes('/dist/src/')).map((u) => u.slice(u.indexOf('dist/src/')));
    assert.ok(needed.length > 10, `too few modules recorded: ${needed.join(', ')}`);
    for (const f of [...needed, 'dist/src/testing.d.ts', 'dist/src/backend/mock/index.d.ts']) {
      assert.ok(files.has(f), `npm pack leaves out ${f}`);
    }
  });
});
