/**
 * The layer rule of docs/design.md ("The layers"): every import in src/
 * goes to the same layer or one below, and the import graph has no cycle.
 * Type-only imports count too (they couple the layers just the same).
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';

const root = (() => {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return dir;
})();
const src = path.join(root, 'src');

/** Bottom to top; a folder may import its own layer and the layers listed before it (docs/design.md). */
const LAYERS: readonly (readonly string[])[] = [
  ['errors.ts'],
  ['backend'],
  ['ring'],
  ['buffer'],
  ['ops'],
  ['fs', 'net'],
  ['task'],
  ['thread'],
  ['serve'],
  ['index.ts'],
  ['testing', 'testing.ts'],
];

/**
 * Known violations owned by other parts of issue 12 (each names its owner);
 * the lead empties this list when those land. Anything else fails.
 */
const KNOWN: readonly string[] = [];

function layerOf(rel: string): number {
  const top = rel.split('/')[0]!;
  const i = LAYERS.findIndex((l) => l.includes(top));
  assert.ok(i >= 0, `${rel}: its folder is in no layer of docs/design.md`);
  return i;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of fs.readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (fs.statSync(p).isDirectory()) out.push(...walk(p));
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

/**
 * rel path → rel paths it imports (relative specifiers only; .js → .ts).
 * `runtimeOnly`: leave out `import type` / `export type` (erased by tsc: they
 * order no module evaluation, so they cannot make a runtime cycle).
 */
function graph(runtimeOnly = false): Map<string, string[]> {
  const g = new Map<string, string[]>();
  for (const file of walk(src)) {
    const text = fs.readFileSync(file, 'utf8');
    const deps: string[] = [];
    const re = /^\s*(?:import|export)\b[^'"]*?\bfrom\s+'(\.[^']+)'|^\s*import\s+'(\.[^']+)'|import\(\s*'(\.[^']+)'\s*\)/gm;
    for (const m of text.matchAll(re)) {
      if (runtimeOnly && /^\s*(?:import|export)\s+type\b/.test(m[0])) continue;
      const spec = m[1] ?? m[2] ?? m[3]!;
      const target = path.resolve(path.dirname(file), spec).replace(/\.js$/, '.ts');
      if (fs.existsSync(target)) deps.push(path.relative(src, target));
    }
    g.set(path.relative(src, file), deps);
  }
  return g;
}

function known(what: string): boolean {
  return KNOWN.includes(what);
}

test('no import reaches a higher layer', () => {
  const bad: string[] = [];
  for (const [from, deps] of graph()) {
    for (const to of deps) {
      const what = `${from} -> ${to}`;
      if (layerOf(to) > layerOf(from) && !known(what)) bad.push(what);
    }
  }
  assert.deepEqual(bad, [], 'upward imports (see "The layers" in docs/design.md)');
});

test('the import graph has no cycle (type-only imports aside)', () => {
  const g = graph(true);
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  const cycles: string[] = [];
  const visit = (n: string): void => {
    state.set(n, 1);
    stack.push(n);
    for (const d of g.get(n) ?? []) {
      const s = state.get(d);
      if (s === 1) {
        const cyc = [...stack.slice(stack.indexOf(d)), d];
        const what = `cycle: ${cyc.join(' -> ')}`;
        if (!known(what)) cycles.push(what);
      } else if (s === undefined) visit(d);
    }
    stack.pop();
    state.set(n, 2);
  };
  for (const n of [...g.keys()].sort()) if (!state.has(n)) visit(n);
  assert.deepEqual(cycles, []);
});

test('the checker sees imports (it can fail)', () => {
  const g = graph();
  assert.ok((g.get('ops/table.ts') ?? []).includes('ring/registry.ts'), 'ops/table.ts imports ring/registry.ts');
  assert.ok(layerOf('serve/server.ts') > layerOf('ring/ring.ts'));
});
