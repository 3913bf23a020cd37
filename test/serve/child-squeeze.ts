/**
 * A StaticServer in a child process whose descriptor table the test squeezes
 * (test/serve/sendfile-pipe.test.ts): `node child-squeeze.js <root> '<options JSON>'`.
 * Prints "ready <port>". Commands on stdin, one per line:
 * - "squeeze <accepted> <free>": waits until the server has accepted
 *   <accepted> connections, empties the ring's sendFile pipe pool, opens
 *   /dev/null until EMFILE, then closes <free> of those: the server then has
 *   exactly <free> descriptors left. Prints "squeezed <free>".
 * - "release": closes every descriptor the squeeze opened. Prints "released".
 * SIGTERM closes the server and exits 0.
 */
import fs from 'node:fs';
import readline from 'node:readline';

import { drainSendFilePipes } from '../../src/net/sendfile.js';
import { Ring } from '../../src/ring/ring.js';
import { StaticServer } from '../../src/serve/server.js';

const root = process.argv[2]!;
const options = JSON.parse(process.argv[3] ?? '{}') as Record<string, unknown>;
const ring = Ring.current();
const server = StaticServer.start({ root, port: 0, ring, ...options });
const held: number[] = [];

function fill(free: number): void {
  for (;;) {
    try {
      held.push(fs.openSync('/dev/null', 'r'));
    } catch (e) {
      if ((e as { code?: string }).code !== 'EMFILE') throw e;
      break;
    }
  }
  for (let i = 0; i < free; i++) fs.closeSync(held.pop()!);
}

async function run(line: string): Promise<string> {
  const [cmd, a, b] = line.trim().split(' ');
  if (cmd === 'squeeze') {
    while (server.stats().accepted < Number(a)) await new Promise((r) => setTimeout(r, 5));
    drainSendFilePipes(ring);
    fill(Number(b));
    return `squeezed ${b}`;
  }
  if (cmd === 'release') {
    for (const fd of held.splice(0)) fs.closeSync(fd);
    return 'released';
  }
  return `unknown ${line}`;
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  void run(line).then((out) => process.stdout.write(`${out}\n`));
});
process.stdout.write(`ready ${server.port}\n`);
process.once('SIGTERM', () => {
  rl.close();
  void server.close({ timeoutMs: 5000 }).then(() => {
    process.stdout.write(`closed ${JSON.stringify(server.stats())} ${JSON.stringify(server.errors.map(String))}\n`);
    process.exit(0);
  });
});
