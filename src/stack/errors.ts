/**
 * Errors of the local stack. Each has a stable `code` to match on and read-only context; the message is written for
 * the person running `npm run stack`, so it says what to do next where we know it.
 */
export abstract class StackError extends Error {
  abstract readonly code: string;
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** An environment variable the stack reads has an invalid value; `issues` names every bad variable. */
export class StackConfigError extends StackError {
  readonly code = 'STACK_CONFIG_INVALID';
  constructor(readonly issues: readonly string[]) {
    super(`invalid stack configuration:\n  ${issues.join('\n  ')}`);
  }
}

/** `go install`/`go build` of a stack binary failed; the full output is in `logFile`. */
export class GoBuildError extends StackError {
  readonly code = 'GO_BUILD_FAILED';
  constructor(
    readonly binary: string,
    readonly version: string,
    readonly logFile: string,
    readonly detail: string,
    options?: ErrorOptions,
  ) {
    super(`building ${binary} ${version} failed: ${detail} (full log: ${logFile})`, options);
  }
}

/** A port the stack needs is held by a process the stack did not start. */
export class PortInUseError extends StackError {
  readonly code = 'PORT_IN_USE';
  constructor(
    readonly port: number,
    readonly component: string,
    readonly owner: string | undefined,
  ) {
    super(
      `port ${port} needed by ${component} is in use by ${owner ?? 'another process'}, which the stack did not start; ` +
        `stop it, or choose other ports (ASSAY_STACK_*_PORT)`,
    );
  }
}

/** A daemon the stack started exited before it became healthy. */
export class DaemonExitedError extends StackError {
  readonly code = 'DAEMON_EXITED';
  constructor(
    readonly daemon: string,
    readonly logFile: string,
    readonly logTail: string,
  ) {
    super(`${daemon} exited during start-up; last lines of ${logFile}:\n${logTail}`);
  }
}

/** Waiting for something (a daemon's health, a lock) took longer than allowed. */
export class StackTimeoutError extends StackError {
  readonly code = 'STACK_TIMEOUT';
  constructor(
    readonly waitingFor: string,
    readonly timeoutMs: number,
    readonly lastProblem: string | undefined,
  ) {
    super(
      `timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${waitingFor}` +
        (lastProblem ? ` (last problem: ${lastProblem})` : ''),
    );
  }
}

/** A component name given on the command line or in the API is not in the registry. */
export class UnknownComponentError extends StackError {
  readonly code = 'UNKNOWN_COMPONENT';
  constructor(
    readonly component: string,
    readonly known: readonly string[],
  ) {
    super(`unknown stack component "${component}" (known: ${known.join(', ')})`);
  }
}

/**
 * The `code` of a Node.js system error (`ENOENT`, `ESRCH`, `ELOCKED`, …), if any. Checked structurally rather than
 * with `instanceof Error`, which fails for errors from another realm (e.g. under Jest's VM modules).
 */
export function errorCode(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null || !('code' in err)) return undefined;
  return typeof err.code === 'string' ? err.code : undefined;
}
