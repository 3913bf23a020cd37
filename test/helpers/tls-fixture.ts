/**
 * The committed TLS test certificate (test/helpers/fixtures/tls: self-signed,
 * for localhost, 127.0.0.1 and ::1, valid until 2126; how it was made is in
 * its README). No openssl command is needed to use it.
 */
import fs from 'node:fs';
import path from 'node:path';

import { REPO_ROOT } from './child.js';

const DIR = path.join(REPO_ROOT, 'test', 'helpers', 'fixtures', 'tls');

export interface TlsFixture {
  readonly certFile: string;
  readonly keyFile: string;
  readonly cert: Buffer;
  readonly key: Buffer;
}

export function tlsFixture(): TlsFixture {
  const certFile = path.join(DIR, 'cert.pem');
  const keyFile = path.join(DIR, 'key.pem');
  return { certFile, keyFile, cert: fs.readFileSync(certFile), key: fs.readFileSync(keyFile) };
}
