/**
 * Buffers handed to an operation stay untransferable for good: uringkit marks
 * their ArrayBuffer with worker_threads.markAsUntransferable() (the kernel
 * may write into it until the operation's last CQE, so it must not move to
 * another owner), and Node has no way to undo the mark. This pins the
 * documented behaviour (README, docs/guides/io-buffer.md, docs/design.md) on
 * the running Node: from Node 22 a later transfer throws DataCloneError;
 * Node 20 silently copies instead. Either way the buffer is never detached
 * and keeps its bytes, long after the operation settled.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { after, before, describe, test } from 'node:test';
import { MessageChannel, receiveMessageOnPort } from 'node:worker_threads';

import { Ring } from '../../src/index.js';

const ring = Ring.current();
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
let fd = -1;

before(() => {
  fd = fs.openSync('/dev/zero', 'r');
});
after(() => fs.closeSync(fd));

/** Tries to transfer `ab` through a MessagePort; 'threw' or what the receiver got. */
function transferByPostMessage(ab: ArrayBuffer): { threw: string } | { received: ArrayBuffer } {
  const { port1, port2 } = new MessageChannel();
  try {
    port1.postMessage(ab, [ab]);
    const m = receiveMessageOnPort(port2);
    assert.ok(m !== undefined);
    return { received: m.message as ArrayBuffer };
  } catch (e) {
    return { threw: (e as Error).name };
  } finally {
    port1.close();
    port2.close();
  }
}

describe('buffers used by an operation stay untransferable', () => {
  test('a plain ArrayBuffer transfers before any operation (control)', () => {
    const ab = new ArrayBuffer(16);
    const r = transferByPostMessage(ab);
    assert.ok('received' in r);
    assert.equal(ab.byteLength, 0, 'moved: detached here');
  });

  test(`after a read settled, transfer ${NODE_MAJOR >= 22 ? 'throws DataCloneError' : 'copies'} (Node ${NODE_MAJOR}); ` +
    'the buffer is never detached', async () => {
    const ab = new ArrayBuffer(64);
    const view = new Uint8Array(ab);
    view.fill(7);
    assert.equal(await ring.read(fd, view, { length: 32 }), 32);
    // Long after settlement: still marked.
    await ring.nop();
    await new Promise((r) => setImmediate(r));
    const viaPort = transferByPostMessage(ab);
    let viaClone: string;
    try {
      const c = structuredClone(ab, { transfer: [ab] });
      viaClone = `copied ${c.byteLength}`;
    } catch (e) {
      viaClone = (e as Error).name;
    }
    if (NODE_MAJOR >= 22) {
      assert.deepEqual(viaPort, { threw: 'DataCloneError' });
      assert.equal(viaClone, 'DataCloneError');
    } else {
      assert.ok('received' in viaPort, 'Node 20: postMessage copies');
      assert.equal(viaPort.received.byteLength, 64);
      assert.equal(viaClone, 'copied 64', 'Node 20: structuredClone copies');
    }
    assert.equal(ab.byteLength, 64, 'not detached');
    assert.equal(view[40], 7);
    assert.equal(view[0], 0, 'the read wrote zeros');
  });

  test('the mark covers the whole ArrayBuffer, also for a write and a subarray view', async () => {
    const ab = new ArrayBuffer(32);
    const devnull = fs.openSync('/dev/null', 'w');
    try {
      await ring.write(devnull, new Uint8Array(ab, 8, 8));
    } finally {
      fs.closeSync(devnull);
    }
    const r = transferByPostMessage(ab);
    if (NODE_MAJOR >= 22) assert.deepEqual(r, { threw: 'DataCloneError' });
    else assert.ok('received' in r);
    assert.equal(ab.byteLength, 32);
  });
});
