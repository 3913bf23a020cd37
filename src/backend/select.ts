/**
 * Backend selection: io_uring where it works, otherwise the portable
 * backend (Node's own I/O), decided once per thread and said in one
 * `NODE_DEBUG=uringkit` line.
 *
 * Order (the first that applies):
 *  1. `new Ring({ backend })`: a Backend object (the mock, a custom one) or
 *     'io_uring' / 'portable' forces it.
 *  2. `UK_BACKEND=io_uring|node` (also 'portable') forces one for the process.
 *  3. Automatic: the portable backend when
 *     - the platform is not Linux (process.platform), or is Android (where a
 *       seccomp filter answers io_uring_setup with SIGSYS and kills the
 *       process);
 *     - `/proc/sys/kernel/io_uring_disabled` is 2 (disabled for everyone);
 *     - the addon cannot load (no prebuild for this platform and no build, a
 *       load error);
 *     - a seccomp filter is installed (`Seccomp: 2` in /proc/self/status)
 *       and a child process that creates a ring is killed by a signal or
 *       reports that io_uring_setup failed (the probe runs once per process,
 *       in the child, so a SIGSYS filter can only kill the child);
 *     - io_uring_setup fails when the Ring is created (ENOSYS, EPERM / EACCES
 *       from seccomp or the sysctl, ENOMEM from RLIMIT_MEMLOCK, EOPNOTSUPP):
 *       that ring and later ones use the portable backend (ENOMEM is not
 *       remembered: it depends on the locked memory in use).
 *  Forcing io_uring where it cannot run throws UringUnavailableError.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import util from 'node:util';

import { UringUnavailableError } from '../errors.js';
import { nativeBinding } from './uring/binding.js';
import type { Backend } from './backend.js';
import { PortableBackend, portableBackend } from './portable/index.js';

/** What `ring.info.backend` reports. */
export type BackendName = 'io_uring' | 'portable' | 'mock' | 'custom';

/** `RingOptions.backend`: a Backend object, or a backend by name. */
export type BackendChoice = Backend | 'io_uring' | 'portable';

export interface Selection {
  readonly backend: Backend;
  readonly name: BackendName;
  /** Chosen explicitly (option or UK_BACKEND): a setup failure throws instead of falling back. */
  readonly forced: boolean;
}

const debug = util.debuglog('uringkit');
const { errno: E } = os.constants;

/** The automatic decision of this thread (undefined: not made yet). */
let auto: { backend: Backend; name: BackendName; reason: string } | undefined;
let announced = '';

function announce(name: BackendName, reason: string): void {
  const line = `backend: ${name} (${reason})`;
  if (line === announced) return;
  announced = line;
  debug(line);
}

/** The name of a Backend object. */
export function backendName(b: Backend): BackendName {
  if (b instanceof PortableBackend) return 'portable';
  let addon: Backend | undefined;
  try {
    addon = nativeBinding();
  } catch {
    addon = undefined;
  }
  if (addon !== undefined && (b === addon || Object.getPrototypeOf(b) === Object.getPrototypeOf(addon))) {
    return 'io_uring';
  }
  return (b as { constructor?: { name?: string } }).constructor?.name === 'MockBackend' ? 'mock' : 'custom';
}

/** The addon, or a thrown UringUnavailableError saying why it cannot load. */
function forcedUring(): Backend {
  try {
    return nativeBinding();
  } catch (e) {
    const err = new UringUnavailableError(-E.ENOSYS);
    err.message = `io_uring is unavailable: the native addon cannot load (${(e as Error).message.split('\n')[0]}). ` +
      'Use the portable backend (leave UK_BACKEND unset, or UK_BACKEND=node).';
    (err as Error).cause = e;
    throw err;
  }
}

/** Why this platform cannot use io_uring at all (checked without touching io_uring), or undefined. */
export function platformReason(): string | undefined {
  if (process.platform !== 'linux') return `io_uring is Linux-only; this is ${process.platform}`;
  if (process.env.ANDROID_ROOT !== undefined || fs.existsSync('/system/build.prop')) {
    return 'Android: its seccomp filter kills a process that calls io_uring_setup (SIGSYS)';
  }
  try {
    const v = fs.readFileSync('/proc/sys/kernel/io_uring_disabled', 'utf8').trim();
    if (v === '2') return 'the sysctl kernel.io_uring_disabled is 2';
  } catch {
    /* no such sysctl: kernels before 6.6 */
  }
  return undefined;
}

/** Whether a seccomp filter is installed on this process (it may kill on io_uring_setup). */
function seccompFiltered(): boolean {
  try {
    return /^Seccomp:\s*2$/m.test(fs.readFileSync('/proc/self/status', 'utf8'));
  } catch {
    return false;
  }
}

/**
 * Creates a ring in a child process: undefined when it worked, else why not.
 * A filter that kills on io_uring_setup kills the child, never this process.
 */
function childProbe(): string | undefined {
  const ringUrl = new URL('../ring/ring.js', import.meta.url).href;
  const script = `import(${JSON.stringify(ringUrl)}).then((m) => { try { void new m.Ring({ entries: 2, backend: 'io_uring' }).close(); process.stdout.write('ok'); } catch (e) { process.stdout.write('errno ' + e.errno + ' ' + e.message); } });`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    encoding: 'utf8', timeout: 10_000, env: { ...process.env, UK_BACKEND: 'io_uring', NODE_DEBUG: '' },
  });
  if (r.signal !== null) return `a process creating an io_uring was killed by ${r.signal} (seccomp)`;
  if (r.error !== undefined) return undefined; // could not run the probe: let the in-process setup decide
  if (r.stdout === 'ok') return undefined;
  const m = /^errno (-?\d+)/.exec(r.stdout);
  if (m !== null) return `io_uring_setup failed in a probe process (${util.getSystemErrorName(Number(m[1]))})`;
  return undefined;
}

/** The automatic choice of this thread. */
function automatic(): { backend: Backend; name: BackendName; reason: string } {
  if (auto !== undefined) return auto;
  const platform = platformReason();
  if (platform !== undefined) return (auto = { backend: portableBackend(), name: 'portable', reason: platform });
  let addon: Backend;
  try {
    addon = nativeBinding();
  } catch (e) {
    const why = (e as Error).message.split('\n')[0];
    return (auto = { backend: portableBackend(), name: 'portable', reason: `the addon cannot load: ${why}` });
  }
  if (seccompFiltered()) {
    const why = childProbe();
    if (why !== undefined) return (auto = { backend: portableBackend(), name: 'portable', reason: why });
  }
  return (auto = { backend: addon, name: 'io_uring', reason: 'io_uring available' });
}

/** The backend for a new Ring. */
export function selectBackend(choice: BackendChoice | undefined): Selection {
  if (choice !== undefined && typeof choice === 'object') return { backend: choice, name: backendName(choice), forced: true };
  let wanted = choice;
  if (wanted === undefined) {
    const env = process.env.UK_BACKEND;
    if (env === 'io_uring') wanted = 'io_uring';
    else if (env === 'node' || env === 'portable') wanted = 'portable';
    else if (env !== undefined && env !== '' && env !== 'auto') {
      process.emitWarning(`UK_BACKEND=${env} is not one of io_uring, node, auto: choosing automatically`,
        { code: 'UK_BACKEND_INVALID' });
    }
    if (wanted !== undefined) announce(wanted, `UK_BACKEND=${env}`);
  } else announce(wanted, `RingOptions.backend '${wanted}'`);
  if (wanted === 'io_uring') return { backend: forcedUring(), name: 'io_uring', forced: true };
  if (wanted === 'portable') return { backend: portableBackend(), name: 'portable', forced: true };
  const a = automatic();
  announce(a.name, a.reason);
  return { backend: a.backend, name: a.name, forced: false };
}

/**
 * io_uring_setup failed (`errno` < 0) on an automatically chosen io_uring:
 * the portable backend takes over (for later rings too, except after ENOMEM).
 */
export function fallBackAfterSetup(errno: number): Selection {
  const name = util.getSystemErrorName(errno);
  const reason = `io_uring_setup failed: ${name}`;
  if (errno !== -E.ENOMEM) auto = { backend: portableBackend(), name: 'portable', reason };
  announce('portable', reason);
  return { backend: portableBackend(), name: 'portable', forced: false };
}

/** Forgets the automatic decision (tests). */
export function resetBackendSelection(): void {
  auto = undefined;
  announced = '';
}
