/**
 * uringkit/testing: the mock backend, for unit tests of code built on
 * uringkit (docs/guides/testing-with-mock.md).
 *
 * ```ts
 * import { Ring } from 'uringkit';
 * import { MockBackend, withMock } from 'uringkit/testing';
 * ```
 *
 * Nothing here loads with `import 'uringkit'`: the root entry carries no
 * mock code (test/backend/testing-entry.test.ts checks it).
 */
export { MockBackend } from './testing/mock-backend.js';
export { MOCK_OP_NAMES } from './testing/operation-names.js';
export type {
  MockBackendOptions, MockOpAlias, MockUnhandled, MockClock, MockTimer, Fault, FaultPlan, FaultSpec, MockFdKind, MockOpenFd, MockFs,
  MockFsOptions, MockFsStat, MockInodeType, MockHandler, MockLogEntry, MockOpName, MockReply, MockRequest, MockResult,
  MockStatInit,
} from './backend/mock/index.js';
export { withMock } from './testing/with-mock.js';
export type { MockTestContext, WithMockOptions } from './testing/with-mock.js';
