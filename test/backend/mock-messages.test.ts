/**
 * Ring-to-ring messages on the mock: DescOp.MSG_RING between mock rings of
 * one thread (across MockBackends too), as the addon does it: the target gets
 * a SLOT_MESSAGE completion, an unknown or closed target is -EBADFD
 * (ERR_RING_CLOSED), and the operation goes through the log, the fault plan
 * and handlers like any other.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { Ring, type RingMessage } from '../../src/index.js';
import { MockBackend, withMock } from '../../src/testing.js';

async function take(ring: Ring, n: number): Promise<RingMessage[]> {
  const got: RingMessage[] = [];
  if (n === 0) return got;
  for await (const m of ring.messages()) {
    got.push(m);
    if (got.length === n) break;
  }
  return got;
}

describe('mock: ring-to-ring messages', () => {
  test('between rings of two MockBackends; logged as msgRing; handle and ringFd', () => withMock(t0(), async (mock, ring) => {
    const other = new MockBackend({ seed: 2 });
    const target = new Ring({ backend: other });
    try {
      assert.equal(typeof target.handle.id, 'number');
      assert.ok(other.ringFd(target.handle.id) >= 1, 'a live ring has a stand-in fd');
      await ring.sendMessage(target.handle, { tag: 3, value: -7 });
      assert.deepEqual(await take(target, 1), [{ tag: 3, value: -7 }]);
      const [entry] = mock.calls('msgRing');
      assert.equal(entry?.res, 0);
      assert.equal(entry?.by, 'model');
      const id = target.handle.id;
      await target.close();
      assert.equal(other.ringFd(id), -77, 'EBADFD once the ring is gone');
      await assert.rejects(ring.sendMessage({ id, pid: process.pid, threadId: 0 }, { tag: 1, value: 1 }),
        { code: 'ERR_RING_CLOSED' });
    } finally {
      await target.close();
    }
  }));

  test('faults and handlers apply to msgRing', () => withMock(t0(), async (mock, ring) => {
    mock.faults.add({ op: 'msgRing', errno: 'EIO', times: 1 });
    await assert.rejects(ring.sendMessage(ring.handle, { tag: 1, value: 1 }), { code: 'EIO' });
    assert.equal(ring.messageStats().received, 0, 'a failed send posts nothing');
    const seen: number[] = [];
    mock.handle('msgRing', (req) => {
      seen.push(req.flags & 0xffff, req.mode);
      return req.default();
    });
    await ring.sendMessage(ring.handle, { tag: 9, value: 42 });
    assert.deepEqual(seen, [9, 42], 'the handler sees the tag (low bits of flags) and the value (mode)');
    assert.deepEqual(await take(ring, 1), [{ tag: 9, value: 42 }]);
  }));

  test('attachWq: accepted for a live mock ring, ERR_RING_CLOSED for a closed one', () => withMock(t0(), async (mock, ring) => {
    const attached = new Ring({ backend: mock, attachWq: ring });
    assert.ok(attached.info.flags.includes('ATTACH_WQ'));
    await attached.close();
    const gone = new Ring({ backend: mock });
    const h = gone.handle;
    await gone.close();
    assert.throws(() => new Ring({ backend: mock, attachWq: h }), { code: 'ERR_RING_CLOSED' });
  }));
});

function t0(): { diagnostic(m: string): void } {
  return { diagnostic: (m) => console.error(m) };
}
