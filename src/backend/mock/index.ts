/**
 * The mock backend: Ring's Backend protocol in JavaScript with no system
 * calls, for unit tests (docs/guides/testing-with-mock.md). Public through
 * `uringkit/testing` (src/testing.ts), which adds withMock().
 */
export { MockBackend } from './backend.js';
export type { MockBackendOptions, MockUnhandled } from './backend.js';
export type { MockClock, MockTimer } from './clock.js';
export type { Fault, FaultPlan, FaultSpec } from './faults.js';
export type { MockFdKind, MockOpenFd } from './fds.js';
export type { MockFs, MockFsOptions, MockFsStat, InodeType as MockInodeType } from './fs.js';
export { MockNames, type MockOperationSpec } from './names.js';
export type { MockHandler, MockLogEntry, MockOpAlias, MockOperationNames, MockOpName, MockReply, MockRequest, MockResult, MockStatInit } from './types.js';
