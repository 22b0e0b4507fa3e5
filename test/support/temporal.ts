import { DefaultLogger, Runtime } from '@temporalio/worker';

/**
 * Installs the Temporal worker runtime with a logger that keeps warnings and errors only, so a test run is not
 * buried under worker state changes. A runtime is per process and installed once; a second call changes nothing.
 */
export function installQuietTemporalRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // Already installed in this process (by another test file sharing the worker): keep it.
  }
}
