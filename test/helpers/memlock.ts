/**
 * Running a child under a lowered RLIMIT_MEMLOCK: `prlimit --memlock` and,
 * as root, `setpriv` to drop CAP_IPC_LOCK (which exempts a process from the
 * limit). Returns the argv for env(1), or the reason the precondition is
 * missing (the caller skips with it).
 */
import { spawnSync } from 'node:child_process';

const has = (cmd: string): boolean => spawnSync(cmd, ['--version'], { stdio: 'ignore' }).status === 0;

/** `env` arguments that run `command` with RLIMIT_MEMLOCK = `bytes` and `NODE_DEBUG=uringkit`; or { skip }. */
export function underMemlock(bytes: number, command: string[]): string[] | { skip: string } {
  if (!has('prlimit')) return { skip: 'prlimit (util-linux) is not installed' };
  const root = process.getuid?.() === 0;
  if (root && !has('setpriv')) {
    return { skip: 'running as root (CAP_IPC_LOCK ignores the limit) and setpriv is not installed to drop it' };
  }
  const args = ['NODE_DEBUG=uringkit'];
  if (root) args.push('setpriv', '--bounding-set=-ipc_lock');
  args.push('prlimit', `--memlock=${bytes}:${bytes}`, ...command);
  return args;
}
