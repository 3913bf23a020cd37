/**
 * Running a short ES module in a fresh Node process (liveness tests: does it
 * exit, when, with what output). `__LIB__` in the code is replaced by the
 * absolute URL of the compiled library.
 */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (this file is dist/test/helpers/child.js). */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** file:// URL of dist/src/index.js (this file is dist/test/helpers/child.js). */
export const LIB_URL = new URL('../../src/index.js', import.meta.url).href;

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** The child was still running at the deadline and was killed. */
  killed: boolean;
}

/**
 * Runs `code` as an ES module with `node --input-type=module -e`. The child
 * is SIGKILLed if it has not exited after `timeoutMs` (then killed = true).
 */
export function runModule(code: string, timeoutMs = 30_000, execArgv: string[] = []): Promise<ChildResult> {
  const src = code.replaceAll('__LIB__', JSON.stringify(LIB_URL));
  return runProcess(process.execPath, [...execArgv, '--input-type=module', '-e', src], timeoutMs);
}

/** Where and with what environment runProcess starts its command (defaults: this process's). */
export interface ProcessOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  /**
   * Run the command in its own process group and SIGKILL the whole group at
   * the deadline and once the command has exited (nothing it started outlives it).
   */
  group?: boolean;
}

/** Runs a command, collecting its output; SIGKILLed after `timeoutMs` (then killed = true). */
export function runProcess(cmd: string, args: string[], timeoutMs: number, options: ProcessOptions = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: options.cwd, env: options.env, detached: options.group });
    let stdout = '';
    let stderr = '';
    let killed = false;
    const kill = () => {
      try {
        if (options.group && child.pid !== undefined) process.kill(-child.pid, 'SIGKILL');
        else child.kill('SIGKILL');
      } catch {
        // gone already
      }
    };
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      killed = true;
      kill();
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (options.group) kill(); // what the command left running
      resolve({ code, signal, stdout, stderr, killed });
    });
  });
}

/** A readable summary for assertion messages. */
export function describeChild(r: ChildResult): string {
  return `code=${r.code} signal=${r.signal} killed=${r.killed}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`;
}
