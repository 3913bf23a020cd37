/**
 * What a user gets from the package, beyond "it runs" (pack.test.ts):
 * - the packed dist/ is complete: every entry point package.json names (main,
 *   types, exports, bin) is in the tarball; every relative import of every
 *   packed .js and .d.ts resolves to a packed file; every bare import is a
 *   Node builtin, the package itself or one of its "dependencies" (never a
 *   devDependency, which a user does not have);
 * - a TypeScript project (strict, NodeNext) type-checks against the package
 *   installed with --ignore-scripts, every subpath imported;
 * (A git-URL install: git-install.test.ts.)
 *
 * @file-timeout 1500
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { builtinModules } from 'node:module';
import path from 'node:path';
import { test } from 'node:test';

import { REPO_ROOT } from '../helpers/child.js';
import { packedTarball, projectWithPackage, runOk, typeScriptProject } from '../helpers/pack.js';
import { makeTempDir } from '../helpers/tmp.js';

const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  name: string; main: string; types: string; bin: Record<string, string>; dependencies: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
};

/** The import specifiers of a .js or .d.ts file (static, dynamic, export-from, import type). */
function specifiers(source: string): string[] {
  const out: string[] = [];
  const re = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+)(['"])([^'"\n]+)\1/gm;
  for (let m = re.exec(source); m !== null; m = re.exec(source)) out.push(m[2]!);
  return out;
}

/** Strips comments (a JSDoc example may show an import that is not one). */
function code(source: string): string {
  return source.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
}

test('the tarball holds every entry point and everything dist/ imports', { timeout: 1_200_000 }, async () => {
  const tgz = await packedTarball();
  const work = makeTempDir('uk-tar-');
  try {
    runOk('tar', ['xzf', tgz], work.dir);
    const root = path.join(work.dir, 'package');
    const has = (p: string): boolean => fs.existsSync(path.join(root, p));
    const entries = [pkg.main, pkg.types, ...Object.values(pkg.bin),
      ...Object.values(pkg.exports).flatMap((v) => (typeof v === 'string' ? [v] : Object.values(v)))];
    for (const e of entries) assert.ok(has(e), `package.json names ${e}, which is not in the tarball`);

    const deps = new Set(Object.keys(pkg.dependencies));
    const builtins = new Set(builtinModules);
    const files: string[] = [];
    const walk = (dir: string): void => {
      for (const d of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, d.name);
        if (d.isDirectory()) walk(p);
        else if (/\.(js|d\.ts)$/.test(d.name)) files.push(p);
      }
    };
    walk(path.join(root, 'dist'));
    assert.ok(files.length > 50, `only ${files.length} files under dist/`);
    const problems: string[] = [];
    for (const f of files) {
      for (const spec of specifiers(code(fs.readFileSync(f, 'utf8')))) {
        const rel = path.relative(root, f);
        if (spec.startsWith('.')) {
          const target = path.resolve(path.dirname(f), spec);
          const candidates = f.endsWith('.d.ts') ? [target, target.replace(/\.js$/, '.d.ts')] : [target];
          if (!candidates.some((c) => fs.existsSync(c))) problems.push(`${rel}: '${spec}' is not in the tarball`);
          continue;
        }
        const bare = spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!;
        if (spec.startsWith('node:') || builtins.has(bare) || bare === pkg.name || deps.has(bare)) continue;
        problems.push(`${rel}: imports '${spec}', which is not a dependency (a user does not have it)`);
      }
    }
    assert.deepEqual(problems, []);
  } finally {
    work.remove();
  }
});

test('a TypeScript project type-checks against the installed package (every subpath)', { timeout: 1_200_000 }, async () => {
  const app = await projectWithPackage();
  try {
    typeScriptProject(app.dir, ['main.ts']);
    fs.writeFileSync(path.join(app.dir, 'main.ts'), `
      import { Ring, Socket, connect, type HostConnectOptions } from 'uringkit';
      import { readFile } from 'uringkit/fs';
      import { readFile as readFile2 } from 'uringkit/fs/promises';
      import { StaticServer, type ServeOptions } from 'uringkit/serve';
      import { MockBackend } from 'uringkit/testing';

      const o: ServeOptions = { root: '.', port: 0, dotfiles: 'deny' };
      const h: HostConnectOptions = { timeout: 1000 };
      export async function use(): Promise<void> {
        const s: Socket = await Socket.connect({ host: '127.0.0.1', port: 1 });
        await s.end('x');
        const t: Socket = await connect({ host: 'localhost', port: '80', ...h });
        await t.close();
        const b: Buffer = await readFile('x');
        const c: Buffer = await readFile2('x');
        void [b, c, Ring.current(), StaticServer.start(o), MockBackend];
      }
      // A wrong option is a type error for the user, not a runtime surprise:
      // @ts-expect-error dotfiles takes 'ignore' | 'deny' | 'allow'
      const bad: ServeOptions = { dotfiles: 'yes' };
      void bad;
    `);
    const tsc = path.join(app.dir, 'node_modules', 'typescript', 'bin', 'tsc');
    const r = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.json'], { cwd: app.dir, encoding: 'utf8', timeout: 300_000 });
    assert.equal(r.status, 0, `tsc failed:\n${r.stdout}\n${r.stderr}`);
  } finally {
    app.remove();
  }
});
