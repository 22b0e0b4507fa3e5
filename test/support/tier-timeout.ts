/**
 * Applies the project's timeout (jest.config.js `tier(…)`, passed as the global `assayTierTimeoutMs`) to every test
 * and hook of the file: Jest's runner ignores a per-project `testTimeout` on its own.
 */
import { jest } from '@jest/globals';

const timeoutMs = (globalThis as { assayTierTimeoutMs?: unknown }).assayTierTimeoutMs;
if (typeof timeoutMs !== 'number' || !Number.isInteger(timeoutMs) || timeoutMs <= 0) {
  throw new Error(
    `jest.config.js: the project's globals.assayTierTimeoutMs is ${String(timeoutMs)}, not a timeout`,
  );
}
jest.setTimeout(timeoutMs);
