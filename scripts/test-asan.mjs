#!/usr/bin/env node
// Runs the whole test suite with the ASAN+UBSAN build of the addon
// (scripts/build-asan.mjs). The sanitizer runtime is preloaded into node;
// leak detection is off (V8 keeps memory until exit by design); any
// sanitizer report aborts the test process and fails the run.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const addon = path.join(root, 'build-asan', 'uringkit.node');
if (!existsSync(addon)) {
  console.error('build-asan/uringkit.node is missing: run `npm run build:asan` first');
  process.exit(1);
}
const cc = process.env.CC || 'cc';
const lib = (name) => spawnSync(cc, [`-print-file-name=${name}`], { encoding: 'utf8' }).stdout.trim();
const env = {
  ...process.env,
  LD_PRELOAD: [lib('libasan.so'), lib('libubsan.so')].join(' '),
  ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=1:halt_on_error=1:allocator_may_return_null=1:detect_stack_use_after_return=0',
  UBSAN_OPTIONS: 'halt_on_error=1:print_stacktrace=1',
  UK_ADDON_PATH: addon,
  // The sanitized addon is slower: a longer per-file limit (scripts/test.mjs).
  UK_TEST_FILE_TIMEOUT: process.env.UK_TEST_FILE_TIMEOUT ?? '600',
};
const r = spawnSync(process.execPath, [path.join(root, 'scripts', 'test.mjs'), ...process.argv.slice(2)], { stdio: 'inherit', env });
process.exit(r.status ?? 1);
