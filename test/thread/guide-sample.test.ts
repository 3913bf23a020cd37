/**
 * The threads guide's "Talking to a worker's ring; larger payloads" sample
 * runs as written in a user's project: it is extracted from
 * docs/guides/threads.md, saved as payloads.mjs in a fresh directory whose
 * node_modules/uringkit is this package, and run with node.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';

import { describeChild, runProcess } from '../helpers/child.js';
import { tmpDir } from '../helpers/fs-util.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

test("the threads guide's payload sample runs in a user project (imports from 'uringkit')", async () => {
  const guide = fs.readFileSync(path.join(ROOT, 'docs/guides/threads.md'), 'utf8');
  const at = guide.indexOf("### Talking to a worker's ring; larger payloads");
  assert.ok(at >= 0, 'the section exists');
  const m = /```js\n([\s\S]*?)```/.exec(guide.slice(at));
  assert.ok(m, 'the section has a js sample');
  const code = m[1]!;
  assert.match(code, /from 'uringkit'/);
  const tmp = tmpDir('uringkit-guide-');
  try {
    fs.writeFileSync(tmp.file('package.json'), '{ "type": "module" }\n');
    fs.mkdirSync(tmp.file('node_modules'));
    fs.symlinkSync(ROOT, tmp.file('node_modules/uringkit'), 'dir');
    fs.writeFileSync(tmp.file('payloads.mjs'), code);
    const r = await runProcess(process.execPath, [tmp.file('payloads.mjs')], 60_000);
    assert.equal(r.code, 0, describeChild(r));
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 2, describeChild(r));
    for (let i = 0; i < 2; i++) assert.match(lines[i]!, new RegExp(`^worker ${i}: 1000000 bytes, sha256 [0-9a-f]{12}$`));
    assert.notEqual(lines[0]!.slice(-12), lines[1]!.slice(-12), 'each worker sent its own bytes');
  } finally {
    // The link first: removing the directory must never reach the package itself.
    fs.rmSync(tmp.file('node_modules/uringkit'), { force: true });
    tmp.remove();
  }
});
