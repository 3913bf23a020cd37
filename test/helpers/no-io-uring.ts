/**
 * Running a command where io_uring is blocked by seccomp, as Docker's default
 * profile, containerd 2.0 and GitHub's runners block it: io_uring_setup,
 * io_uring_enter and io_uring_register fail with EPERM (test/helpers/no-io-uring.c).
 *
 * The wrapper is compiled once per process with the system C compiler into a
 * temporary directory that is removed when the process exits.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { REPO_ROOT, runProcess, type ChildResult, type ProcessOptions } from './child.js';

const SOURCE = path.join(REPO_ROOT, 'test', 'helpers', 'no-io-uring.c');

let built: string | undefined;

/**
 * Path of the compiled wrapper (`no-io-uring COMMAND [ARG...]`). Throws with
 * what to install when there is no C compiler, and on an architecture other
 * than x86-64 or arm64 (the two whose syscall numbers the filter names).
 */
export function noIoUringWrapper(): string {
  if (built !== undefined) return built;
  if (process.arch !== 'x64' && process.arch !== 'arm64') {
    throw new Error(`the seccomp wrapper knows the io_uring syscall numbers of x64 and arm64 only; this is ${process.arch}`);
  }
  const cc = process.env.CC || 'cc';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uringkit-no-io-uring-'));
  process.once('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  const out = path.join(dir, 'no-io-uring');
  const r = spawnSync(cc, ['-O2', '-Wall', '-o', out, SOURCE], { encoding: 'utf8', timeout: 120_000 });
  if (r.error !== undefined || r.status !== 0) {
    throw new Error(`building the seccomp wrapper with "${cc}" failed: ${r.error?.message ?? r.stderr}\n` +
      'A C compiler is needed (Debian: apt-get install -y gcc, or set CC).');
  }
  built = out;
  return out;
}

/**
 * Runs `cmd args` under the seccomp filter and collects its output. The
 * command runs in its own process group; the whole group is SIGKILLed after
 * `timeoutMs` (then killed = true), so a hanging child never outlives the test.
 */
export function runWithoutIoUring(cmd: string, args: string[], timeoutMs: number, options: ProcessOptions = {}):
  Promise<ChildResult> {
  return runProcess(noIoUringWrapper(), [cmd, ...args], timeoutMs, { ...options, group: true });
}

/**
 * Starts `cmd args` under the seccomp filter and leaves it running (for
 * servers). kill() SIGKILLs its whole process group and resolves once it exited.
 */
export function startWithoutIoUring(cmd: string, args: string[], options: ProcessOptions = {}) {
  const child = spawn(noIoUringWrapper(), [cmd, ...args], {
    stdio: ['ignore', 'pipe', 'pipe'], cwd: options.cwd, env: options.env, detached: true,
  });
  let output = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (output += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (output += d));
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
  return {
    child,
    /** Everything it printed so far (stdout and stderr interleaved). */
    output: () => output,
    exited,
    kill: async (): Promise<void> => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
      } catch {
        // gone already
      }
      await exited;
    },
  };
}
