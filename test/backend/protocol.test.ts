/**
 * The backend protocol is stated twice: src/backend/protocol.ts (TypeScript,
 * const enums, erased at run time) and native/uk.h (C #defines and the
 * uk_desc_op enum). This test reads both sources as text and fails when a
 * number differs or a name exists on one side only.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

import { decodeRecord, stageF64, writeCompletion } from '../../src/backend/protocol.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const ts = readFileSync(path.join(root, 'src/backend/protocol.ts'), 'utf8');
const header = readFileSync(path.join(root, 'native/uk.h'), 'utf8');

/** `export const enum Name { A = 1, ... }` → Map(A → 1). Comments are dropped. */
function tsEnum(name: string): Map<string, number> {
  const m = new RegExp(`export const enum ${name} \\{([^}]*)\\}`).exec(ts);
  assert.ok(m, `enum ${name} in protocol.ts`);
  const body = m[1]!.replace(/\/\*[\s\S]*?\*\//g, '').replace(/\/\/.*$/gm, '');
  const out = new Map<string, number>();
  for (const item of body.split(',')) {
    const kv = /^\s*(\w+)\s*=\s*(\d+)\s*$/.exec(item);
    if (kv) out.set(kv[1]!, Number(kv[2]));
  }
  return out;
}

/** `#define PREFIX_NAME value` → Map(NAME → value). */
function cDefines(prefix: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const m of header.matchAll(new RegExp(`^#define ${prefix}(\\w+)\\s+(0x[0-9a-fA-F]+|\\d+)`, 'gm'))) {
    out.set(m[1]!, Number(m[2]));
  }
  return out;
}

function cDefine(name: string): number {
  const m = new RegExp(`^#define ${name}\\s+(\\(1u << \\d+\\)|0x[0-9a-fA-F]+|\\d+)`, 'm').exec(header);
  assert.ok(m, `#define ${name} in uk.h`);
  const shift = /\(1u << (\d+)\)/.exec(m[1]!);
  return shift ? 2 ** Number(shift[1]) : Number(m[1]);
}

describe('backend protocol: TypeScript and C agree', () => {
  it('descriptor opcodes: the same names with the same numbers', () => {
    const m = /enum uk_desc_op \{([^}]*)\}/.exec(header);
    assert.ok(m, 'enum uk_desc_op in uk.h');
    const c = new Map<string, number>();
    for (const kv of m[1]!.replace(/\/\*[\s\S]*?\*\//g, '').matchAll(/UK_DESC_(\w+)\s*=\s*(\d+)/g)) {
      c.set(kv[1]!, Number(kv[2]));
    }
    assert.deepEqual(tsEnum('DescOp'), c);
  });

  it('record, stage header and completion layouts', () => {
    const rec = tsEnum('Rec');
    assert.equal(rec.get('WORDS'), cDefine('UK_DESC_WORDS'));
    rec.delete('WORDS');
    assert.deepEqual(rec, cDefines('UK_REC_'));

    const hdr = tsEnum('StageHeader');
    assert.equal(hdr.get('WORDS'), cDefine('UK_STAGE_HEADER_WORDS'));
    assert.equal(hdr.get('COUNT'), cDefine('UK_STAGE_COUNT'));
    assert.equal(hdr.get('REFUSED'), cDefine('UK_STAGE_REFUSED'));

    const cqe = tsEnum('Cqe');
    assert.equal(cqe.get('WORDS'), cDefine('UK_CQE_WORDS'));
    cqe.delete('WORDS');
    const c = cDefines('UK_CQE_');
    c.delete('WORDS');
    assert.deepEqual(cqe, c);
  });

  it('descriptor flags, kinds and slot limits', () => {
    const flags = tsEnum('DescFlag');
    assert.deepEqual(flags, cDefines('UK_DESC_F_'));
    assert.deepEqual(tsEnum('Kind'), cDefines('UK_KIND_'));
    assert.equal(2 ** 24, cDefine('UK_MAX_SLOTS'));
    assert.match(ts, /export const MAX_SLOTS = 1 << 24;/);
    assert.match(header, /#define UK_SLOT_MESSAGE 0xffffffffu/);
    assert.match(ts, /export const SLOT_MESSAGE = -1;/);
  });

  it('decodeRecord reads what the named offsets say, and writeCompletion writes a record', () => {
    const stage = new Int32Array(16 + 2 * 16);
    const f64 = stageF64(stage);
    const base = 16 + 16; // record 1
    stage[base] = 7 | (5 << 8);
    stage[base + 1] = 42;
    stage[base + 2] = (9 << 2) | 1;
    stage[base + 3] = 3;
    stage[base + 4] = -100;
    stage[base + 5] = 0o644;
    f64[(base + 6) >> 1] = 1.5;
    f64[(base + 8) >> 1] = 250;
    f64[(base + 10) >> 1] = -1;
    f64[(base + 12) >> 1] = 2 ** 40;
    stage[base + 14] = -1; // u32 0xffffffff
    stage[base + 15] = 11;
    assert.deepEqual(decodeRecord(stage, f64, 1), {
      op: 7, flags: 5, slot: 42, hi: (9 << 2) | 1, kind: 1, fd: 3, arg0: -100, arg1: 0o644,
      opMs: 1.5, linkMs: 250, position: -1, offset: 2 ** 40, length: 0xffffffff, arg2: 11,
    });
    const out = new Int32Array(8);
    writeCompletion(out, 1, 42, 36, -2, 2);
    assert.deepEqual([...out], [0, 0, 0, 0, 42, 36, -2, 2]);
  });
});
