/**
 * The npm package installs and runs in someone else's project: `npm pack`
 * (with the three prebuilds), install the tarball into a fresh temporary
 * project with --ignore-scripts, and run an example there on every Node we can
 * find (20 and 24 in CI: UK_NODE24 names the Node 24 binary). The install
 * script itself never fails an install (it falls back to the portable backend).
 *
 * @file-timeout 1500
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { npmEnv, packedTarball, projectWithPackage, runOk } from '../helpers/pack.js';
import { describeChild, REPO_ROOT, runProcess } from '../helpers/child.js';
import { requirePeer } from '../helpers/peers.js';
import { makeTempDir } from '../helpers/tmp.js';

const PREBUILDS = ['linux-x64/uringkit.glibc.node', 'linux-x64/uringkit.musl.node', 'linux-arm64/uringkit.glibc.node'];

test('the tarball carries the library, the three tagged prebuilds and no tests', { timeout: 1_200_000 }, async () => {
  const tgz = await packedTarball();
  const listing = runOk('tar', ['tzf', tgz], path.dirname(tgz)).split('\n');
  for (const p of PREBUILDS) assert.ok(listing.includes(`package/prebuilds/${p}`), `the tarball must carry prebuilds/${p}`);
  assert.ok(listing.includes('package/dist/src/index.js'));
  assert.ok(!listing.some((f) => f.startsWith('package/dist/test/')), 'no compiled tests in the package');
  const pkg = JSON.parse(runOk('tar', ['xzOf', tgz, 'package/package.json'], path.dirname(tgz))) as Record<string, unknown>;
  assert.equal(pkg.os, undefined, 'no "os" restriction: the package installs everywhere Node runs');
});

/** dlopen()s an addon with musl's dynamic linker; napi_module_register is stubbed (the addon only needs it at load). */
const MUSL_DLOPEN_C = `
#include <dlfcn.h>
#include <stdio.h>
void napi_module_register(void *mod) { (void)mod; }
int main(int argc, char **argv) {
  void *h = dlopen(argv[1], RTLD_LAZY | RTLD_LOCAL);
  if (!h) { printf("dlopen failed: %s\\n", dlerror()); return 1; }
  printf("loaded, napi_register_module_v1 %s\\n", dlsym(h, "napi_register_module_v1") ? "present" : "absent");
  return 0;
}
`;

test('the musl prebuild loads with musl\'s dynamic linker (Alpine\'s libc); the glibc one does not', { timeout: 1_200_000 }, async () => {
  const musl = await requirePeer('musl-gcc');
  const tgz = await packedTarball();
  const work = makeTempDir('uk-musl-');
  try {
    writeFileSync(path.join(work.dir, 'probe.c'), MUSL_DLOPEN_C);
    runOk(musl, ['-rdynamic', '-o', 'probe', 'probe.c'], work.dir);
    runOk('tar', ['xzf', tgz, 'package/prebuilds/linux-x64'], work.dir);
    const dir = path.join(work.dir, 'package', 'prebuilds', 'linux-x64');
    // Without LD_PRELOAD: under `npm run test:asan` it names glibc's sanitizer runtime, which musl cannot load.
    const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'LD_PRELOAD'));
    const ok = await runProcess(path.join(work.dir, 'probe'), [path.join(dir, 'uringkit.musl.node')], 60_000, { env });
    assert.equal(ok.stdout.trim(), 'loaded, napi_register_module_v1 present', describeChild(ok));
    const wrong = await runProcess(path.join(work.dir, 'probe'), [path.join(dir, 'uringkit.glibc.node')], 60_000, { env });
    assert.match(wrong.stdout, /dlopen failed: .*ld-linux-x86-64\.so\.2/, describeChild(wrong));
  } finally {
    work.remove();
  }
});

test('npm install --ignore-scripts → the example runs on each Node', { timeout: 1_200_000 }, async () => {
  const nodes = [...new Set([process.execPath, process.env.UK_NODE20, process.env.UK_NODE24, '/usr/bin/node'])]
    .filter((n): n is string => typeof n === 'string' && existsSync(n));
  for (const node of nodes) {
    const app = await projectWithPackage(node);
    try {
      writeFileSync(path.join(app.dir, 'main.js'), `
        import { Ring, readFile, writeFile } from 'uringkit';
        const ring = Ring.current();
        await Promise.all(Array.from({ length: 32 }, () => ring.nop()));
        await writeFile('out.txt', 'hello from ' + process.version);
        console.log(await readFile('out.txt', { encoding: 'utf8' }), ring.stats().enters > 0);
        await ring.close();
      `);
      const out = runOk(node, ['main.js'], app.dir, npmEnv(node));
      const version = spawnSync(node, ['--version'], { encoding: 'utf8' }).stdout.trim();
      assert.equal(out.trim(), `hello from ${version} true`, `example output on ${node}`);
    } finally {
      app.remove();
    }
  }
});

test('npm install with scripts: the install script uses the matching prebuild and builds nothing', { timeout: 600_000 }, async () => {
  const tgz = await packedTarball();
  const app = makeTempDir('uk-app-scripts-');
  try {
    writeFileSync(path.join(app.dir, 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', private: true, type: 'module' }));
    runOk('npm', ['install', '--foreground-scripts', '--no-audit', '--no-fund', tgz], app.dir);
    const pkgDir = path.join(app.dir, 'node_modules', 'uringkit');
    assert.ok(!existsSync(path.join(pkgDir, 'build')), 'the install script compiled although a prebuild matches');
    const out = runOk(process.execPath, ['--input-type=module', '-e',
      "import { Ring } from 'uringkit'; const r = Ring.current(); await r.nop(); console.log('ok'); await r.close();"], app.dir);
    assert.equal(out.trim(), 'ok');
  } finally {
    app.remove();
  }
});

test('the install script never fails an install: without a C compiler or a usable prebuild it says so and exits 0',
  { timeout: 300_000 }, () => {
    // A copy of the package without prebuilds, and a compiler that does not exist.
    const copy = makeTempDir('uk-noprebuild-');
    try {
      for (const f of ['package.json', 'binding.gyp', 'scripts/build-native.mjs']) {
        cpSync(path.join(REPO_ROOT, f), path.join(copy.dir, f), { recursive: true });
      }
      const r = spawnSync(process.execPath, [path.join(copy.dir, 'scripts', 'build-native.mjs')], {
        cwd: copy.dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, CC: '/nonexistent/cc' },
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stderr, /no C compiler found .*The portable backend \(Node's own I\/O, no io_uring\) will be used\./);
      assert.match(readFileSync(path.join(copy.dir, 'build', 'build-error.log'), 'utf8'), /no C compiler found/);
    } finally {
      copy.remove();
    }
  });
