#!/usr/bin/env node
// Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer into
// build-asan/uringkit.node (separate from build/, so the normal build stays).
// Run the tests against it with `npm run test:asan`.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nodedir = path.resolve(path.dirname(process.execPath), '..');
const cc = process.env.CC || 'cc';
const sources = readdirSync(path.join(root, 'native')).filter((f) => f.endsWith('.c')).map((f) => path.join(root, 'native', f));
mkdirSync(path.join(root, 'build-asan'), { recursive: true });
const args = [
  '-std=gnu11', '-O1', '-g', '-fno-omit-frame-pointer', '-fsanitize=address,undefined', '-fno-sanitize-recover=undefined',
  '-fPIC', '-shared', '-Wall', '-Wextra', '-Wno-unused-parameter', '-DNAPI_VERSION=8', '-DUK_SANITIZE=1',
  `-I${path.join(nodedir, 'include', 'node')}`, ...sources, '-o', path.join(root, 'build-asan', 'uringkit.node'),
];
const r = spawnSync(cc, args, { stdio: 'inherit' });
process.exit(r.status ?? 1);
