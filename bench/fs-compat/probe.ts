/**
 * Thread-level evidence for where the kernel runs an operation: how many
 * io_uring async workers (io-wq threads, named iou-wrk-<tid>) this process
 * has now, and context switches summed over all its threads.
 */
import fs from 'node:fs';

function tasks(): string[] {
  try {
    return fs.readdirSync('/proc/self/task');
  } catch {
    return [];
  }
}

/** Threads of this process whose name starts with iou-wrk (io-wq workers). */
export function ioWorkerCount(): number {
  let n = 0;
  for (const t of tasks()) {
    try {
      if (fs.readFileSync(`/proc/self/task/${t}/comm`, 'utf8').startsWith('iou-wrk')) n++;
    } catch {
      // exited meanwhile
    }
  }
  return n;
}

/** voluntary / involuntary context switches, summed over the process's current threads. */
export function contextSwitches(): { voluntary: number; involuntary: number } {
  let voluntary = 0;
  let involuntary = 0;
  for (const t of tasks()) {
    try {
      const s = fs.readFileSync(`/proc/self/task/${t}/status`, 'utf8');
      voluntary += Number(/^voluntary_ctxt_switches:\s*(\d+)/m.exec(s)?.[1] ?? 0);
      involuntary += Number(/^nonvoluntary_ctxt_switches:\s*(\d+)/m.exec(s)?.[1] ?? 0);
    } catch {
      // exited meanwhile
    }
  }
  return { voluntary, involuntary };
}
