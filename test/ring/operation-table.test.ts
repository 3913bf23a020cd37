/**
 * The operation table (src/ops/table.ts) is the one source: the method list,
 * the allow-list groups, ring.supports(name) and docs/operations.md agree with it.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';

import { OPERATIONS, Ring } from '../../src/index.js';
import { GETTERS, METHODS, RESOURCE_METHODS } from '../../src/ops/methods.js';
import { operationsDocPath, renderOperations } from '../../src/ops/reference.js';
import { OP } from '../../src/ops/table.js';

test('docs/operations.md is generated from the table and up to date', () => {
  const doc = fs.readFileSync(operationsDocPath(), 'utf8');
  assert.equal(doc, renderOperations(),
    'stale: npx tsc -p tsconfig.json && node dist/src/ops/reference.js --write');
  for (const o of OPERATIONS) if (o.method !== undefined) assert.ok(doc.includes(`\`ring.${o.method}\``), o.method);
});

test('every table method is on Ring through the one method list, and nothing else is', () => {
  const tableMethods = new Set(OPERATIONS.flatMap((o) => (o.method === undefined ? [] : [o.method])));
  assert.deepEqual(new Set(Object.keys(METHODS)), tableMethods);
  for (const m of tableMethods) {
    assert.equal(typeof (Ring.prototype as unknown as Record<string, unknown>)[m], 'function', m);
  }
  const keys = OPERATIONS.map((o) => o.key);
  assert.equal(new Set(keys).size, keys.length, 'keys are unique');
});

test('the registered-resource methods and getters are on Ring through the method list', () => {
  const proto = Ring.prototype as unknown as Record<string, unknown>;
  assert.deepEqual(Object.keys(RESOURCE_METHODS).sort(), ['fileTableStats', 'registerBuffers']);
  for (const [name, fn] of Object.entries(RESOURCE_METHODS)) assert.equal(proto[name], fn, name);
  assert.deepEqual(Object.keys(GETTERS), ['bufferPool']);
  for (const [name, get] of Object.entries(GETTERS)) {
    assert.equal(Object.getOwnPropertyDescriptor(Ring.prototype, name)?.get, get, name);
  }
  for (const name of [...Object.keys(RESOURCE_METHODS), ...Object.keys(GETTERS)]) {
    assert.ok(!(name in METHODS), `${name} is not a table method`);
  }
});

test('every OP.<key> used in src/ names an entry of the table', () => {
  const srcDir = path.join(path.dirname(operationsDocPath()), '..', 'src');
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const n of fs.readdirSync(d)) {
      const p = path.join(d, n);
      if (fs.statSync(p).isDirectory()) walk(p);
      else if (n.endsWith('.ts')) files.push(p);
    }
  };
  walk(srcDir);
  const used = new Set<string>();
  for (const f of files) {
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/\bOP\.([a-z]\w*)/g)) used.add(m[1]!);
  }
  assert.ok(used.has('read') && used.has('openat2'), 'the scan finds uses');
  for (const k of used) assert.equal(typeof (OP as Readonly<Record<string, number | undefined>>)[k], 'number', `OP.${k} is registered`);
});

test('allow groups come from the table; supports() takes a name', async () => {
  const groups = [...new Set(OPERATIONS.flatMap((o) => (o.allow === undefined ? [] : [o.allow])))];
  assert.throws(() => new Ring({ allow: ['no-such-op'] }), (e: Error & { code?: string }) => {
    assert.equal(e.code, 'ERR_INVALID_ARG_VALUE');
    for (const g of groups) assert.ok(e.message.includes(g), `${g} is listed`);
    return true;
  });
  const ring = new Ring();
  try {
    assert.equal(ring.supports('nop'), true);
    assert.equal(ring.supports('read'), ring.supports(22) && ring.supports(4));
    assert.equal(ring.supports('openat2'), ring.supports(28));
    assert.throws(() => ring.supports('no-such-op'), { code: 'ERR_INVALID_ARG_VALUE' });
  } finally {
    await ring.close();
  }
});

test('ring.send is the socket send; the ring-to-ring message is sendMessage', async () => {
  const ring = new Ring();
  try {
    await assert.rejects(async () => ring.sendMessage({} as never, { tag: 1, value: 1 }), { code: 'ERR_INVALID_ARG_TYPE' });
    await assert.rejects(async () => ring.sendMessage(ring.handle, { tag: 0xff00, value: 1 }), { code: 'ERR_OUT_OF_RANGE' });
    await ring.sendMessage(ring.handle, { tag: 7, value: -5 });
    const it = ring.messages();
    assert.deepEqual((await it.next()).value, { tag: 7, value: -5 });
    await it.return!();
  } finally {
    await ring.close();
  }
});

test('the mock\'s operation names are the table\'s names, both ways; records are named after their entry', async () => {
  const { MOCK_OP_NAMES, MockBackend } = await import('../../src/testing.js');
  const { MOCK_NAMES } = await import('../../src/testing/operation-names.js');
  assert.deepEqual(new Set(MOCK_OP_NAMES), new Set(OPERATIONS.map((o) => o.name)));
  assert.equal(new Set(MOCK_OP_NAMES).size, MOCK_OP_NAMES.length, 'no name twice');
  for (const o of OPERATIONS) {
    const marks = (o as { marks?: { arg0?: number; arg1?: number } }).marks;
    assert.equal(MOCK_NAMES.nameOf(o.descOp, marks?.arg0 ?? 0, marks?.arg1 ?? 0), o.name, `${o.key}'s record`);
    assert.equal(MOCK_NAMES.resolve(o.name, 'test'), o.name);
  }
  // Documented older names resolve to table names; anything else is refused with a code.
  const warnings: Error[] = [];
  const onWarning = (w: Error): void => {
    warnings.push(w);
  };
  process.on('warning', onWarning);
  assert.equal(MOCK_NAMES.resolve('msgRing', 'test'), 'sendMessage');
  assert.equal(MOCK_NAMES.resolve('msgRing', 'test'), 'sendMessage');
  await new Promise<void>((resolve) => setImmediate(resolve));
  process.off('warning', onWarning);
  const deprecations = warnings.filter((w) => (w as Error & { code?: string }).code === 'URINGKIT_MOCK_OP_NAME');
  assert.equal(deprecations.length, 1, 'msgRing warns once (a deprecated alias)');
  assert.equal(deprecations[0]!.name, 'DeprecationWarning');
  assert.equal(MOCK_NAMES.resolve('close', 'test'), 'closeFd');
  assert.equal(MOCK_NAMES.resolve('stat', 'test'), 'statx');
  assert.equal(MOCK_NAMES.resolve('timeout', 'test'), 'sleep');
  const mock = new MockBackend({ seed: 1 });
  assert.throws(() => mock.handle('openat' as never, () => 0), { name: 'TypeError', code: 'ERR_INVALID_ARG_VALUE' });
  // The probe is the table's: an opcode of an entry the mock models is reported, one it does not is not.
  const ring = new Ring({ backend: mock });
  try {
    for (const o of OPERATIONS) {
      if (o.backends.mock === 'yes') assert.ok(ring.supports(o.uringOps[0]!), `${o.key}: the mock models it`);
    }
    assert.equal(ring.supports('splice'), false, 'splice: no model, no handler');
  } finally {
    await ring.close();
  }
});

test('the mock answers an operation it has no model for generically, with the table\'s name', async () => {
  const { MockBackend } = await import('../../src/testing.js');
  const mock = new MockBackend({ seed: 1 });
  const ring = new Ring({ backend: mock });
  try {
    await assert.rejects(ring.openat2('/x', { flags: 0 }), { code: 'ENOSYS', syscall: 'openat2' });
    assert.equal(mock.unhandled.length, 1);
    assert.equal(mock.unhandled[0]!.op, 'openat2');
    assert.match(mock.unhandled[0]!.message, /mock\.handle\('openat2'/);
    mock.handle('openat2', (req) => (req.op === 'openat2' ? 9 : -1));
    assert.equal(await ring.openat2('/x', { flags: 0 }), 9, 'a handler answers it');
    assert.equal(mock.calls('openat2').length, 2);
  } finally {
    await ring.close();
  }
});

test('ring.send takes an fd only: the removed ring-to-ring forward is refused before anything is staged', async () => {
  const ring = new Ring();
  try {
    assert.throws(() => ring.send(ring.handle as never, { tag: 1, value: 1 } as never), { code: 'ERR_INVALID_ARG_TYPE' });
    assert.equal(ring.stats().submitted ?? 0, 0);
  } finally {
    await ring.close();
  }
});

test('the table\'s portable column agrees with what the portable backend probes', async () => {
  const ring = new Ring({ backend: 'portable' });
  try {
    for (const o of OPERATIONS) {
      // 'fallback' rows run another way there (syncFileRange: fdatasync) and are not probed as the opcode.
      if (o.backends.portable === 'fallback') continue;
      assert.equal(ring.supports(o.uringOps[0]!), o.backends.portable === 'yes', `${o.key} on the portable backend`);
    }
  } finally {
    await ring.close();
  }
});
