#!/usr/bin/env node
// The uringkit command line: `uringkit serve [dir] [--port N] [--host H] [--workers N] [--log]`.
// The implementation is compiled TypeScript (src/serve/cli.ts → dist/src/serve/cli.js).
import { main } from '../dist/src/serve/cli.js';

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`uringkit: ${err && err.stack ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
