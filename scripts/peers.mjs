// The programs and Debian packages some tests talk to (their "peers"), and
// how the test command provides them on a fresh machine: each is located
// (an environment override, then PATH and known paths); a missing one is
// installed with apt-get when we run as root (one `apt-get update` per
// process, non-interactive, no recommends), with one line saying so. When it
// is missing and we are not root, the caller gets the exact install command
// to print; tests that need it then fail with that message (never skip).
//
// Used by scripts/test.mjs (before the suites start) and, through
// test/helpers/peers.ts, by the tests themselves.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';

/**
 * name → { env: override variable, commands: names on PATH, paths: known
 * absolute paths, apt: Debian package, tests: test-path substrings that need it }.
 */
export const PEERS = {
  openssl: { env: 'UK_OPENSSL', commands: ['openssl'], paths: [], apt: 'openssl', tests: ['net/tls'] },
  chromium: {
    env: 'UK_CHROMIUM',
    commands: ['chromium', 'chromium-browser'],
    paths: ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/lib/chromium/chromium'],
    apt: 'chromium',
    tests: ['serve/browser'],
  },
  'qemu-aarch64-static': {
    env: 'UK_QEMU_AARCH64', commands: ['qemu-aarch64-static'], paths: [], apt: 'qemu-user-static', tests: ['package/arm64'],
  },
  'aarch64-linux-gnu-gcc': {
    env: 'UK_AARCH64_CC', commands: ['aarch64-linux-gnu-gcc'], paths: [], apt: 'gcc-aarch64-linux-gnu', tests: ['package/'],
  },
  // The arm64 C library headers the cross compiler builds against (with --no-install-recommends,
  // gcc-aarch64-linux-gnu does not bring them).
  'aarch64-libc-dev': {
    env: 'UK_AARCH64_SYSROOT', commands: [], paths: ['/usr/aarch64-linux-gnu'], apt: 'libc6-dev-arm64-cross',
    tests: ['package/'], files: ['include/bits/libc-header-start.h'],
  },
  'musl-gcc': { env: 'UK_MUSL_CC', commands: ['musl-gcc'], paths: [], apt: 'musl-tools', tests: ['package/'] },
  // The arm64 C and C++ runtime for running arm64 Node under qemu-user (qemu-aarch64-static -L /usr/aarch64-linux-gnu).
  'aarch64-runtime': {
    env: 'UK_AARCH64_SYSROOT', commands: [], paths: ['/usr/aarch64-linux-gnu'], apt: 'libstdc++6-arm64-cross',
    tests: ['package/arm64'], files: ['lib/ld-linux-aarch64.so.1', 'lib/libstdc++.so.6'],
  },
};

function executable(p) {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** A directory peer (a sysroot) is there when all its files are. */
function complete(dir, files) {
  return files.every((f) => {
    try {
      accessSync(path.join(dir, f), constants.R_OK);
      return true;
    } catch {
      return false;
    }
  });
}

/** Absolute path of the peer, or undefined. An override that is not executable counts as missing. */
export function locate(name) {
  const peer = PEERS[name];
  if (!peer) throw new Error(`unknown test peer ${name}`);
  if (peer.files) {
    const dir = process.env[peer.env] || peer.paths[0];
    return complete(dir, peer.files) ? dir : undefined;
  }
  const override = process.env[peer.env];
  if (override) return executable(override) ? override : undefined;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    for (const c of peer.commands) if (executable(path.join(dir, c))) return path.join(dir, c);
  }
  return peer.paths.find(executable);
}

/** The command a person runs to install these peers. */
export function installHint(names) {
  return `apt-get install -y --no-install-recommends ${[...new Set(names.map((n) => PEERS[n].apt))].join(' ')}`;
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;
const aptAvailable = () => spawnSync('apt-get', ['--version'], { stdio: 'ignore' }).status === 0;
let updated = false;

/**
 * Locates every named peer, installing the missing ones with apt-get when
 * root. Returns { found: {name: path}, missing: [names], message } where
 * message (when something is missing) says exactly what to install.
 */
export function provide(names, log = (line) => process.stderr.write(`${line}\n`)) {
  const found = {};
  let missing = [];
  for (const n of names) {
    const p = locate(n);
    if (p) found[n] = p;
    else missing.push(n);
  }
  if (missing.length > 0 && isRoot() && aptAvailable()) {
    const pkgs = [...new Set(missing.map((n) => PEERS[n].apt))];
    log(`uringkit tests: ${missing.join(', ')} not found; installing ${pkgs.join(' ')} with apt-get (running as root)`);
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    const lock = ['-o', 'DPkg::Lock::Timeout=600'];
    if (!updated) {
      const u = spawnSync('apt-get', [...lock, 'update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'], env, timeout: 600_000 });
      if (u.status !== 0) log('uringkit tests: apt-get update failed (trying the install anyway)');
      updated = true;
    }
    const r = spawnSync('apt-get', [...lock, 'install', '-y', '-qq', '--no-install-recommends', ...pkgs],
      { stdio: ['ignore', 'ignore', 'inherit'], env, timeout: 1_200_000 });
    if (r.status !== 0) log(`uringkit tests: apt-get install ${pkgs.join(' ')} failed (status ${r.status})`);
    const still = [];
    for (const n of missing) {
      const p = locate(n);
      if (p) found[n] = p;
      else still.push(n);
    }
    missing = still;
  }
  const message = missing.length === 0 ? undefined
    : `${missing.join(', ')} not found${isRoot() ? '' : ' (not root, so not installed automatically)'}. ` +
      `Install: ${installHint(missing)}`;
  return { found, missing, message };
}
