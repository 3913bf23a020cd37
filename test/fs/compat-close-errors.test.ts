/**
 * uringkit/fs's whole-file functions when the operation and the close of
 * the file they opened fail, on the mock (the only way to make close(2)
 * fail on demand): node:fs/promises' rule (its handleFdClose) is the
 * contract - the op's error when only it fails, the close error when only
 * the close fails, and when both fail an AggregateError of [opError,
 * closeError] with the op error's message and code.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import ukFs from '../../src/fs/promises/index.js';
import { withMock } from '../../src/testing.js';

// The fault's close fails and leaves the fd open (a mock fault has no effect): no leak check.
const OPTS = { setDefault: true, checkLeaks: false } as const;

test('readFile: read and close both fail -> AggregateError [read error, close error]', (t) => withMock(t, async (mock) => {
  mock.fs.writeFile('/data', 'hello');
  mock.faults.add({ op: 'read', errno: 'EIO', times: 1 });
  mock.faults.add({ op: 'close', errno: 'EBADF', times: 1 });
  await assert.rejects(ukFs.readFile('/data'), (e: AggregateError & { code?: string }) => {
    assert.ok(e instanceof AggregateError);
    assert.equal(e.code, 'EIO');
    assert.equal(e.errors.length, 2);
    assert.equal((e.errors[0] as { code: string }).code, 'EIO');
    assert.equal((e.errors[1] as { code: string }).code, 'EBADF');
    assert.equal(e.message, (e.errors[0] as Error).message);
    return true;
  });
}, OPTS));

test('writeFile and truncate: the same rule', (t) => withMock(t, async (mock) => {
  mock.fs.writeFile('/data', 'hello');
  mock.faults.add({ op: 'write', errno: 'ENOSPC', times: 1 });
  mock.faults.add({ op: 'close', errno: 'EIO', times: 1 });
  await assert.rejects(ukFs.writeFile('/out', 'abc'), (e: AggregateError & { code?: string }) => {
    assert.ok(e instanceof AggregateError);
    assert.deepEqual([e.code, ...e.errors.map((x) => (x as { code: string }).code)], ['ENOSPC', 'ENOSPC', 'EIO']);
    return true;
  });
  mock.faults.add({ op: 'ftruncate', errno: 'EPERM', times: 1 });
  mock.faults.add({ op: 'close', errno: 'EIO', times: 1 });
  await assert.rejects(ukFs.truncate('/data', 1), (e: AggregateError & { code?: string }) => {
    assert.ok(e instanceof AggregateError);
    assert.deepEqual([e.code, ...e.errors.map((x) => (x as { code: string }).code)], ['EPERM', 'EPERM', 'EIO']);
    return true;
  });
}, OPTS));

test('only the close fails -> the close error; only the op fails -> the op error, file closed', (t) => withMock(t, async (mock) => {
  mock.fs.writeFile('/data', 'hello');
  mock.faults.add({ op: 'close', errno: 'EIO', times: 1 });
  await assert.rejects(ukFs.readFile('/data'), (e: Error & { code?: string }) => {
    assert.ok(!(e instanceof AggregateError));
    assert.equal(e.code, 'EIO');
    return true;
  });
  mock.faults.add({ op: 'read', errno: 'EIO', times: 1 });
  await assert.rejects(ukFs.readFile('/data'), (e: Error & { code?: string; syscall?: string }) => {
    assert.ok(!(e instanceof AggregateError));
    assert.equal(e.code, 'EIO');
    return true;
  });
  // Nothing failing: the data, and every fd this test's successful calls opened was closed.
  assert.equal(await ukFs.readFile('/data', 'utf8'), 'hello');
}, OPTS));
