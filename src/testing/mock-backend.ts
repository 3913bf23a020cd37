/**
 * The public MockBackend (`uringkit/testing`): the mock backend of
 * src/backend/mock, given the operation table's names (operation-names.ts).
 */
import { MockBackend as MockBackendCore, type MockBackendOptions } from '../backend/mock/backend.js';
import { MOCK_NAMES } from './operation-names.js';

/**
 * A Backend with no system calls. Pass it to `new Ring({ backend: mock })`
 * (or `setDefaultBackend(mock)` for code that uses `Ring.current()`).
 */
export class MockBackend extends MockBackendCore {
  constructor(options: MockBackendOptions = {}) {
    super(options, MOCK_NAMES);
  }
}
