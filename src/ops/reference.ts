/**
 * The per-operation reference (docs/operations.md), rendered from the
 * operation table. `node dist/src/ops/reference.js --write` regenerates the
 * file; test/ring/operation-table.test.ts fails when it is stale.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

import { ALLOW_ALWAYS, IORING_OP, OPERATIONS, type Operation } from './table.js';

const opName = new Map<number, string>(Object.entries(IORING_OP).map(([k, v]) => [v, k]));

function cell(s: string): string {
  return s.replace(/\|/g, '\\|');
}

function row(o: Operation): string {
  const method = o.method !== undefined ? `\`ring.${o.method}\`` : `(${o.key})`;
  const uring = o.uringOps.map((n) => `${opName.get(n) ?? n}`).join(', ');
  const b = o.backends;
  return `| ${method} | ${o.syscall} | ${uring} | ${cell(o.pins)} | ${o.minKernel} | ${o.allow ?? '—'} | ` +
    `${b.uring} | ${b.portable} | ${b.mock} | ${cell(o.note ?? '')} |`;
}

/** docs/operations.md's text. */
export function renderOperations(): string {
  const always = ALLOW_ALWAYS.map((n) => opName.get(n) ?? String(n)).join(', ');
  return [
    '# Operations',
    '',
    '<!-- Generated from src/ops/table.ts by src/ops/reference.ts: do not edit by hand.',
    '     Regenerate: npx tsc -p tsconfig.json && node dist/src/ops/reference.js --write -->',
    '',
    'Every operation uringkit issues, one row per entry of the operation table (src/ops/table.ts).',
    'Rows in parentheses are variants issued by another method (named in the notes).',
    '',
    '- **syscall**: the `syscall` of its SystemError.',
    '- **io_uring**: the IORING_OP_* it may submit (a deadline adds LINK_TIMEOUT or TIMEOUT, a cancel ASYNC_CANCEL).',
    '- **pins**: what its slot keeps alive until the final CQE.',
    '- **kernel**: the oldest Linux with the opcode; `ring.supports(name)` asks the running kernel.',
    `- **allow**: its \`RingOptions.allow\` group (always allowed: ${always}).`,
    '- **io_uring / portable / mock**: support per backend (yes, fallback: another non-blocking path, no).',
    '  On the mock, `no` means no built-in model: the operation fails with ENOSYS naming it until a test',
    '  gives it a handler (`mock.handle(name, ...)`), which also makes the mock\'s probe report it.',
    '',
    '| method | syscall | io_uring | pins | kernel | allow | io_uring | portable | mock | notes |',
    '|---|---|---|---|---|---|---|---|---|---|',
    ...OPERATIONS.map(row),
    '',
  ].join('\n');
}

/** Where the generated file lives (from dist/src/ops or src/ops). */
export function operationsDocPath(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!fs.existsSync(path.join(dir, 'package.json'))) dir = path.dirname(dir);
  return path.join(dir, 'docs', 'operations.md');
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  if (process.argv.includes('--write')) fs.writeFileSync(operationsDocPath(), renderOperations());
  else process.stdout.write(renderOperations());
}
