/**
 * A StaticServer in a child process, for tests that change the process's own
 * limits (prlimit): `node child-server.js <root> '<options JSON>'`. Prints
 * "ready <port> <open fds>" once listening; on SIGTERM closes gracefully and
 * prints "closed <stats JSON> <server errors JSON>".
 */
import fs from 'node:fs';

import { StaticServer } from '../../src/serve/server.js';

const root = process.argv[2]!;
const options = JSON.parse(process.argv[3] ?? '{}') as Record<string, unknown>;
const server = StaticServer.start({ root, port: 0, ...options });
process.stdout.write(`ready ${server.port} ${fs.readdirSync('/proc/self/fd').length}\n`);
process.once('SIGTERM', () => {
  void server.close({ timeoutMs: 5000 }).then(() => {
    const errors = server.errors.map((e) => String((e as Error).message ?? e));
    process.stdout.write(`closed ${JSON.stringify(server.stats())} ${JSON.stringify(errors)}\n`);
    process.exit(0);
  });
});
