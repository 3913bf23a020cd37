/**
 * uringkit serve: the static file server as a library
 * (`import { StaticServer } from 'uringkit/serve'`, once package.json exports it).
 */
export { StaticServer } from './server.js';
export type { AccessLogger, ServeOptions, ServerStats } from './server.js';
export type { DotfilesPolicy } from './respond.js';
export { main as cliMain, parseServeArgs, DEFAULT_SITE } from './cli.js';
