#!/usr/bin/env node
// The uringkit command line: `uringkit serve [dir] [--port N] [--host H] [--workers N] [--log]`.
// The implementation is compiled TypeScript (src/serve/cli.ts → dist/src/serve/cli.js), loaded
// here with a dynamic import so that a failure to load it (a missing build, EMFILE) is one line too.
// Errors print their message only; UK_DEBUG=1 prints the stack.
const debug = process.env.UK_DEBUG === '1';
const fail = (err) => {
  const message = String(err && err.message !== undefined ? err.message : err);
  process.stderr.write(`uringkit: ${debug && err && err.stack ? err.stack : message.split('\n')[0]}\n`);
  process.exit(1);
};

import('../dist/src/serve/cli.js').then(
  ({ main }) => main(process.argv.slice(2)).then((code) => process.exit(code), fail),
  fail,
);
