/**
 * The local stack's programmatic API (what `npm run stack` and the Jest global setup use), and the building blocks
 * for components.
 */
export { stackUp, stackDown, stackStatus, stackEnv, createStackContext, stderrReporter } from './stack.js';
export type { StackOptions, StackUpResult, StackStatusReport } from './stack.js';
export { applyStackEnv, renderExports, type StackEnvironment } from './env.js';
export type {
  Component,
  ComponentEnv,
  ComponentStatus,
  Reporter,
  StackContext,
  UpOutcome,
} from './component.js';
export { ensureGoBinary, hashFiles, type GoBinarySpec } from './go-build.js';
export {
  daemonFiles,
  daemonState,
  ensureDaemon,
  httpProbe,
  isPortFree,
  stopDaemon,
  waitFor,
  type DaemonRef,
  type DaemonSpec,
} from './process.js';
export { componentDir, binaryDir, stackPaths, type StackPaths } from './paths.js';
export { envBoolean, loadStackConfig, type StackConfig } from './config.js';
export * from './errors.js';
