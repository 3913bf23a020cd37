/**
 * The programs some tests talk to (openssl, Chromium, qemu-user, cross
 * compilers). scripts/peers.mjs locates them, or installs them with apt-get
 * when the tests run as root; the test runner (scripts/test.mjs) has done so
 * already for the suites it starts and passes the paths on in UK_OPENSSL,
 * UK_CHROMIUM, ... A test that needs a peer calls requirePeer(): it returns
 * the path, or throws an Error that says exactly what to install (the test
 * fails; it is never skipped).
 */
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { REPO_ROOT } from './child.js';

export type PeerName = 'openssl' | 'chromium' | 'qemu-aarch64-static' | 'aarch64-linux-gnu-gcc' | 'aarch64-libc-dev' | 'musl-gcc'
  | 'aarch64-runtime';

interface PeersModule {
  provide(names: PeerName[]): { found: Partial<Record<PeerName, string>>; missing: PeerName[]; message: string | undefined };
}

/** The absolute path of `name`, installing it first when root; throws with the install command otherwise. */
export async function requirePeer(name: PeerName): Promise<string> {
  const peers = (await import(pathToFileURL(path.join(REPO_ROOT, 'scripts', 'peers.mjs')).href)) as PeersModule;
  const { found, message } = peers.provide([name]);
  const p = found[name];
  if (p === undefined) throw new Error(`this test needs ${name}: ${message}`);
  return p;
}
