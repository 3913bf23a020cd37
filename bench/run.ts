/**
 * Benchmark runner: node dist/bench/run.js <suite> [--json] [--repeats N] [--repeat-ms MS] [--warmup N]
 * Runs dist/bench/<suite>/main.js in this process (pinned to one CPU with
 * taskset when available). Lists the suites when none or an unknown one is given.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { pinSelf } from './lib/pin.js';

const here = path.dirname(fileURLToPath(import.meta.url));

function suites(): string[] {
  return readdirSync(here, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== 'lib' && existsSync(path.join(here, d.name, 'main.js')))
    .map((d) => d.name)
    .sort();
}

const [suite, ...rest] = process.argv.slice(2);
const known = suites();
if (suite === undefined || !known.includes(suite)) {
  if (suite !== undefined) process.stderr.write(`unknown suite '${suite}'\n`);
  process.stderr.write(
    'usage: npm run bench -- <suite> [--json] [--repeats N] [--repeat-ms MS] [--warmup N]\n' +
      `suites: ${known.join(', ') || '(none built)'}\n`,
  );
  process.exit(suite === undefined ? 0 : 2);
}

pinSelf(); // re-executes under taskset; the suite sees the pinned environment
const mod = (await import(pathToFileURL(path.join(here, suite, 'main.js')).href)) as {
  main: (argv: string[]) => Promise<void>;
};
try {
  await mod.main(rest);
} catch (e) {
  process.stderr.write(`bench ${suite} failed: ${(e as Error).stack ?? String(e)}\n`);
  process.exit(1);
}
