/**
 * Worker for fallback.test.ts: its thread's rings come from a backend whose
 * ring setup fails as a seccomp-filtered io_uring_setup does (EPERM), then
 * it runs uringkit/fs calls and posts what they gave.
 */
import { parentPort, workerData } from 'node:worker_threads';
import os from 'node:os';

import { Ring, setDefaultBackend } from '../../src/index.js';
import { MockBackend } from '../../src/testing.js';
import ukFs, { createReadStream } from '../../src/fs/promises/index.js';

const refusing = new MockBackend();
Object.defineProperty(refusing, 'create', { value: () => -os.constants.errno.EPERM });
setDefaultBackend(refusing);

const { dir } = workerData as { dir: string };
const out: Record<string, unknown> = {};
try {
  Ring.current();
  out['ring'] = 'created';
} catch (e) {
  out['ring'] = (e as { code?: string }).code;
}
await ukFs.writeFile(`${dir}/a`, 'fallback works');
out['readFile'] = await ukFs.readFile(`${dir}/a`, 'utf8');
out['size'] = (await ukFs.stat(`${dir}/a`)).size;
const h = await ukFs.open(`${dir}/a`);
out['read'] = (await h.read(Buffer.alloc(8), 0, 8, 0)).bytesRead;
await h.close();
try {
  await ukFs.unlink(`${dir}/missing`);
} catch (e) {
  out['unlinkError'] = (e as Error).message.split(dir).join('<dir>');
}
const chunks: Buffer[] = [];
for await (const c of createReadStream(`${dir}/a`)) chunks.push(c as Buffer);
out['stream'] = Buffer.concat(chunks).toString();
parentPort!.postMessage(out);
