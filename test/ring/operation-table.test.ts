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
