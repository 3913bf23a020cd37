/**
 * The fs-compat workloads, written once against the node:fs/promises API.
 * main.ts calls each with `uringkit/fs` and with node:fs/promises; nothing
 * here knows which one it got. Each checks its own result (byte counts), so
 * a subject that does less work fails instead of looking fast.
 */
import { once } from 'node:events';
import type nodeFsp from 'node:fs/promises';
import path from 'node:path';

export type FsApi = typeof nodeFsp;

/** readFile of every file in turn; `bytes` is the expected total. */
export async function readFileSmall(fs: FsApi, files: readonly string[], bytes: number): Promise<void> {
  let total = 0;
  for (const f of files) total += (await fs.readFile(f)).length;
  if (total !== bytes) throw new Error(`read ${total} bytes, expected ${bytes}`);
}

/** A directory walk: readdir (withFileTypes), then stat + readFile of every file; `files` is the expected count. */
export async function statReadTree(fs: FsApi, dir: string, files: number): Promise<void> {
  let seen = 0;
  const visit = async (d: string): Promise<void> => {
    for (const e of await fs.readdir(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        await visit(p);
        continue;
      }
      const st = await fs.stat(p);
      const data = await fs.readFile(p);
      if (data.length !== st.size) throw new Error(`${p}: read ${data.length} bytes, stat says ${st.size}`);
      seen++;
    }
  };
  await visit(dir);
  if (seen !== files) throw new Error(`visited ${seen} files, expected ${files}`);
}

/** The whole file through FileHandle.createReadStream() (default options) into a byte-counting sink. */
export async function readStream(fs: FsApi, file: string, size: number): Promise<void> {
  const fh = await fs.open(file, 'r');
  const stream = fh.createReadStream();
  let total = 0;
  stream.on('data', (c: Buffer | string) => {
    total += c.length;
  });
  await once(stream, 'close');
  if (total !== size) throw new Error(`streamed ${total} bytes, expected ${size}`);
}

const WRITE_CHUNK = 64 * 1024;

/**
 * `size` bytes through FileHandle.createWriteStream() in 64 KiB writes,
 * waiting for 'drain' when write() says so, to 'close'. `probe` is sampled
 * every 1024 chunks; the largest value is returned.
 */
export async function writeStream(fs: FsApi, file: string, size: number, probe: () => number): Promise<number> {
  const fh = await fs.open(file, 'w');
  const ws = fh.createWriteStream();
  const chunk = Buffer.alloc(WRITE_CHUNK, 0x61);
  const closed = once(ws, 'close');
  let peak = 0;
  for (let done = 0, i = 0; done < size; done += WRITE_CHUNK, i++) {
    if ((i & 1023) === 0) peak = Math.max(peak, probe());
    if (!ws.write(chunk)) await once(ws, 'drain');
  }
  ws.end();
  await closed;
  if (ws.bytesWritten !== size) throw new Error(`wrote ${ws.bytesWritten} bytes, expected ${size}`);
  return peak;
}

/** `n` log lines, one appendFile each. */
export async function appendLines(fs: FsApi, log: string, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await fs.appendFile(log, `2026-01-01T00:00:00.000Z INFO request ${i} handled in 3 ms status=200\n`);
  }
}

export async function copy(fs: FsApi, src: string, dst: string): Promise<void> {
  await fs.copyFile(src, dst);
}
