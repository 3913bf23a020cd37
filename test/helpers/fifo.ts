/**
 * A FIFO opened O_RDWR | O_NONBLOCK: POLLIN is never ready until something is
 * written to it (write() below), and readable again after drain().
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { makeTempDir } from './tmp.js';

export interface Fifo {
  readonly path: string;
  readonly fd: number;
  /** Writes bytes into the FIFO: POLLIN becomes ready. */
  write(data?: string): void;
  /** Reads everything buffered (POLLIN is no longer ready). Returns the byte count. */
  drain(): number;
  /** Closes the fd (unless already closed elsewhere) and removes the FIFO. */
  close(): void;
}

export function makeFifo(): Fifo {
  const { dir, remove } = makeTempDir('uringkit-fifo-');
  const p = path.join(dir, 'fifo');
  execFileSync('mkfifo', [p]);
  const fd = fs.openSync(p, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
  let closed = false;
  return {
    path: p,
    fd,
    write(data = 'x') {
      fs.writeSync(fd, data);
    },
    drain() {
      const buf = Buffer.alloc(4096);
      let total = 0;
      for (;;) {
        try {
          const n = fs.readSync(fd, buf, 0, buf.length, null);
          if (n <= 0) return total;
          total += n;
        } catch (e) {
          if ((e as NodeJS.ErrnoException).code === 'EAGAIN') return total;
          throw e;
        }
      }
    },
    close() {
      if (!closed) {
        closed = true;
        try {
          fs.closeSync(fd);
        } catch {
          // already closed (e.g. by ring.closeFd)
        }
      }
      remove();
    },
  };
}
