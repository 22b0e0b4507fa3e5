/**
 * The Docker executor (docs/migration.md): the executor port (`../port.ts`) on the Docker Engine API. One container per
 * attempt, named like the Kubernetes Job and labelled like its pod; the end is classified from the engine's `die` and
 * `oom` events (a shared event stream, `./events.ts`), stdout and stderr are captured split and timestamped through
 * the same capture engine and storage layout as pod logs (`src/logs`), and the result file and artifacts come out of
 * the archive API through the same tar policy as the collector's stream (`src/artifacts`).
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { type Readable } from 'node:stream';
import tar from 'tar-stream';
import {
  createOutputActivities,
  type OpenOutputTar,
  type OutputActivityDeps,
} from '../../activities/artifacts.js';
import { startHeartbeat } from '../../activities/heartbeat.js';
import { LogCapture, type CapturedFile } from '../../logs/capture.js';
import { captureCheckpointSchema } from '../../logs/checkpoint.js';
import { LogGoneError, type LogSource } from '../../logs/source.js';
import { errorTypes } from '../../spec/error-types.js';
import { labelKeys, managedByValue } from '../../spec/kube-labels.js';
import type { AttemptEnd, AttemptLogs } from '../../spec/record.js';
import { storageKeys } from '../../spec/storage-keys.js';
import type { DockerEngineSettings } from '../../spec/worker-config.js';
import type { ObjectStore } from '../../storage/object-store.js';
import type { AttemptExecutor } from '../port.js';
import { DockerUnsupportedError, attemptContainerName, buildContainer, outputsMount } from './container.js';
import {
  EngineError,
  createDockerEngine,
  demultiplex,
  type DockerEngine,
  type EngineEvent,
} from './engine.js';
import { createContainerEvents, type ContainerEvents } from './events.js';

export interface DockerExecutorDeps {
  readonly settings: DockerEngineSettings;
  readonly store: ObjectStore;
  readonly engine?: DockerEngine;
  readonly events?: ContainerEvents;
  readonly heartbeatIntervalMs?: number;
  /** Told the bytes of every stored log part, by file (the worker's `assay_log_capture_bytes_total`). */
  readonly onStoredBytes?: (file: CapturedFile, bytes: number) => void;
  /** Sends the evaluation's own spans to the trace store (docs/observability.md); absent where tracing is off. */
  readonly forwardSpans?: OutputActivityDeps['forwardSpans'];
}

/** What `GET /containers/{id}/json` tells (the parts used here). */
interface ContainerInspect {
  Id: string;
  Config: { Labels: Record<string, string> | null };
  State: {
    Status: 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';
    ExitCode: number;
    OOMKilled: boolean;
    Error: string;
    StartedAt: string;
    FinishedAt: string;
  };
}

/** Resume point of the wait, heartbeated. */
interface AwaitProgress {
  deadlineAt: number | null;
}

const zeroTime = '0001-01-01T00:00:00Z';

function isoOrNull(time: string | undefined): string | null {
  if (time === undefined || time === '' || time.startsWith('0001-')) return null;
  return new Date(time).toISOString();
}

/** `2024-01-02T03:04:05.123456789Z` → `1704164645.123456789`, the engine's `since`. */
export function sinceParameter(timestamp: string): string {
  const match = /^(.*?)(?:\.(\d+))?Z$/.exec(timestamp);
  const seconds = Math.floor(new Date(`${match?.[1] ?? timestamp}Z`).getTime() / 1000);
  return `${seconds}.${(match?.[2] ?? '').padEnd(9, '0').slice(0, 9)}`;
}

function rejected(message: string): ApplicationFailure {
  return ApplicationFailure.create({ type: errorTypes.rejected, message, nonRetryable: true });
}

/**
 * How the attempt's container ended.
 * @param deadlineAt when it was to be stopped (epoch ms), if a timeout was armed
 */
export function classifyContainerEnd(
  name: string,
  end: { exitCode: number; oom: boolean; startedAt: string | null; finishedAt: string | null },
  deadlineAt: number | null,
  timeoutSeconds: number | undefined,
): AttemptEnd {
  const base = {
    pod: name,
    exitCode: end.exitCode,
    startedAt: end.startedAt,
    finishedAt: end.finishedAt,
    result: null,
    terminationMessage: null,
  };
  const finished = end.finishedAt === null ? Date.now() : new Date(end.finishedAt).getTime();
  if (end.exitCode !== 0 && deadlineAt !== null && finished >= deadlineAt - 1000) {
    return {
      ...base,
      kind: 'TimedOut',
      reason: 'DeadlineExceeded',
      message: `the evaluation exceeded its timeout of ${timeoutSeconds ?? '?'} s and was stopped`,
    };
  }
  if (end.oom) {
    return {
      ...base,
      kind: 'Failed',
      reason: 'OOMKilled',
      message: 'the container exceeded its memory limit',
    };
  }
  if (end.exitCode === 0) return { ...base, kind: 'Succeeded', reason: 'Completed', message: null };
  return {
    ...base,
    kind: 'Failed',
    reason: 'Error',
    message: `the container exited with code ${end.exitCode}`,
  };
}

/** The empty `result/` and `artifacts/` directories, owned by the container's user, put into the output volume. */
async function outputDirsTar(): Promise<Buffer> {
  const pack = tar.pack();
  for (const dir of ['result', 'artifacts']) {
    pack.entry({ name: `${dir}/`, type: 'directory', mode: 0o777, uid: 65532, gid: 65532 });
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * The archive of `/assay` as the collector's `tar -C /assay result artifacts` would stream it: the engine names
 * every entry under `assay/`, which is taken off (the links' targets are left as they are, for the policy to judge).
 */
function stripTopDirectory(source: Readable, areas: readonly string[]): Readable {
  const extract = tar.extract();
  const pack = tar.pack();
  const top = `${outputsMount.slice(1)}/`;
  extract.on('entry', (header, stream, next) => {
    const name = header.name.startsWith(top) ? header.name.slice(top.length) : header.name;
    const area = name.split('/')[0] ?? '';
    if (name === '' || !areas.includes(area)) {
      stream.on('end', next);
      stream.resume();
      return;
    }
    const entry = pack.entry({ ...header, name }, (err) => (err ? extract.destroy(err) : next()));
    stream.pipe(entry);
  });
  extract.on('finish', () => pack.finalize());
  extract.on('error', (err) => pack.destroy(err));
  source.on('error', (err) => extract.destroy(err));
  source.pipe(extract);
  return pack as unknown as Readable;
}

export function createDockerExecutor(deps: DockerExecutorDeps): AttemptExecutor & { stop(): void } {
  const engine = deps.engine ?? createDockerEngine(deps.settings.socket);
  const events = deps.events ?? createContainerEvents(engine);
  const heartbeatEvery = deps.heartbeatIntervalMs ?? 3000;

  async function inspect(name: string, signal?: AbortSignal): Promise<ContainerInspect | null> {
    try {
      return (
        await engine.json<ContainerInspect>(
          `/containers/${name}/json`,
          signal !== undefined ? { signal } : {},
        )
      ).body;
    } catch (err) {
      if (err instanceof EngineError && err.statusCode === 404) return null;
      throw err;
    }
  }

  function isOurs(container: ContainerInspect, evaluationId: string, attempt: number): boolean {
    const labels = container.Config.Labels ?? {};
    return (
      labels[labelKeys.managedBy] === managedByValue &&
      labels[labelKeys.evaluationId] === evaluationId &&
      labels[labelKeys.attempt] === String(attempt)
    );
  }

  /** Docker's logs of one container as a {@link LogSource}: per stream, timestamped, from a time on. */
  function dockerSource(name: string): LogSource {
    /** Streams whose end was confirmed by a read opened after the container had stopped. */
    const confirmed = new Set<string>();
    return {
      async open(stream, since, follow, signal) {
        try {
          const res = await engine.stream(`/containers/${name}/logs`, {
            query: {
              stdout: stream !== 'Stderr',
              stderr: stream !== 'Stdout',
              timestamps: true,
              follow,
              ...(since !== null ? { since: sinceParameter(since) } : {}),
            },
            signal,
          });
          // Both streams asked for (never by this executor, which always splits) would interleave in frame order.
          return stream === null ? res : demultiplex(res, stream === 'Stderr' ? 2 : 1);
        } catch (err) {
          if (err instanceof EngineError && err.statusCode === 404) {
            throw new LogGoneError(`container ${name} is gone`, { cause: err });
          }
          throw err;
        }
      },
      async state(signal, stream) {
        const c = await inspect(name, signal);
        if (c === null) return 'gone';
        if (c.State.Status === 'running' || c.State.Status === 'paused' || c.State.Status === 'restarting')
          return 'running';
        if (c.State.Status === 'created') return c.State.Error !== '' ? 'ended' : 'waiting';
        // A followed log can end when the container stops, before the engine has sent its last lines (seen with
        // 20,000 fast lines: the tail was missing). The first time a stream ends after the stop, read it once more
        // from its last line; that read starts after the stop, so it reaches the log's end.
        const key = String(stream);
        if (!confirmed.has(key)) {
          confirmed.add(key);
          return 'running';
        }
        return 'ended';
      },
    };
  }

  /** Resolves once `name` has started (true) or cannot start any more (false), listening before it reads. */
  async function started(name: string, signal: AbortSignal): Promise<boolean> {
    let settle!: (value: boolean) => void;
    const decided = new Promise<boolean>((resolve) => (settle = resolve));
    const stop = await events.listen(name, (e) => settle(e.Action === 'start' || e.Action === 'die'));
    const onAbort = (): void => settle(false);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      const c = await inspect(name, signal);
      if (c === null) return false;
      if (c.State.Status !== 'created') return true;
      if (c.State.Error !== '') return false;
      return await decided;
    } finally {
      stop();
      signal.removeEventListener('abort', onAbort);
    }
  }

  const openTar: OpenOutputTar = async (input, pod, areas, signal) => {
    const res = await engine
      .stream(`/containers/${pod}/archive`, { query: { path: outputsMount }, signal })
      .catch((err: unknown) => {
        if (err instanceof EngineError && err.statusCode === 404) {
          throw ApplicationFailure.create({
            type: 'CollectorUnavailable',
            nonRetryable: true,
            message: `container ${pod} is gone: the result file and artifacts cannot be read`,
          });
        }
        throw err;
      });
    const stdout = stripTopDirectory(res, areas);
    return {
      stdout,
      done: new Promise((resolve) => {
        stdout.on('end', () => resolve({ exitCode: 0, stderr: '' }));
        stdout.on('error', (err) => resolve({ exitCode: 1, stderr: String(err) }));
      }),
      close: () => res.destroy(),
    };
  };
  const outputs = createOutputActivities({
    store: deps.store,
    openTar,
    ...(deps.heartbeatIntervalMs !== undefined ? { heartbeatIntervalMs: deps.heartbeatIntervalMs } : {}),
    ...(deps.forwardSpans !== undefined ? { forwardSpans: deps.forwardSpans } : {}),
  });

  return {
    kind: 'docker',
    stop: () => events.stop(),

    async create(request) {
      let built: ReturnType<typeof buildContainer>;
      try {
        built = buildContainer(request, deps.settings);
      } catch (err) {
        if (err instanceof DockerUnsupportedError) throw rejected(err.message);
        throw err;
      }
      const { name, volume, body } = built;
      if (volume !== null) {
        await engine.json('/volumes/create', {
          method: 'POST',
          body: { Name: volume, Labels: body.Labels },
        });
      }
      let created = true;
      try {
        await engine.json('/containers/create', { method: 'POST', query: { name }, body });
      } catch (err) {
        if (!(err instanceof EngineError)) throw err;
        if (err.statusCode === 404) throw rejected(`the Docker engine cannot create ${name}: ${err.message}`);
        if (err.statusCode === 400) throw rejected(`the Docker engine refused ${name}: ${err.message}`);
        if (err.statusCode !== 409) throw err;
        created = false;
      }
      const container = await inspect(name);
      if (container === null) throw new Error(`container ${name} vanished right after it was created`);
      if (!isOurs(container, request.evaluationId, request.attempt)) {
        throw ApplicationFailure.create({
          type: errorTypes.jobConflict,
          nonRetryable: true,
          message: `a container named ${name} exists but was not created by Assay for this attempt`,
        });
      }
      // Started once: a retried create never runs an attempt again that has already run.
      if (container.State.Status === 'created' && container.State.Error === '') {
        if (volume !== null) {
          await engine.json(`/containers/${name}/archive`, {
            method: 'PUT',
            query: { path: outputsMount },
            raw: await outputDirsTar(),
          });
        }
        try {
          await engine.json(`/containers/${name}/start`, { method: 'POST' });
        } catch (err) {
          // A command that cannot start is the attempt's end (the wait reads it), not a failed create.
          if (!(err instanceof EngineError) || err.statusCode < 400) throw err;
        }
      }
      return { job: name, created };
    },

    async awaitEnd(input) {
      const ctx = Context.current();
      const name = attemptContainerName(input.evaluationId, input.attempt);
      const previous = ctx.info.heartbeatDetails as Partial<AwaitProgress> | undefined;
      const progress: AwaitProgress = { deadlineAt: previous?.deadlineAt ?? null };
      const stopHeartbeat = startHeartbeat(ctx, () => progress, heartbeatEvery);
      let deadline: NodeJS.Timeout | undefined;
      let oom = false;
      let settle!: (event: EngineEvent | null) => void;
      const died = new Promise<EngineEvent | null>((resolve) => (settle = resolve));
      const armDeadline = (startedAt: string | null): void => {
        if (input.timeoutSeconds === undefined || deadline !== undefined || startedAt === null) return;
        progress.deadlineAt ??= new Date(startedAt).getTime() + input.timeoutSeconds * 1000;
        ctx.heartbeat(progress);
        deadline = setTimeout(
          () => {
            // SIGTERM now, SIGKILL two seconds later (the Kubernetes path's shortest stop window).
            engine
              .json(`/containers/${name}/stop`, { method: 'POST', query: { t: 2 } })
              .catch((err: unknown) => {
                if (!(err instanceof EngineError && err.statusCode === 404))
                  ctx.log.warn('stopping the container at its deadline failed', { err });
              });
          },
          Math.max(0, progress.deadlineAt - Date.now()),
        );
      };
      const stopListening = await events.listen(name, (event) => {
        if (event.Action === 'oom') oom = true;
        else if (event.Action === 'start') armDeadline(new Date(event.timeNano / 1e6).toISOString());
        else if (event.Action === 'die') settle(event);
      });
      const onCancel = (): void => settle(null);
      ctx.cancellationSignal.addEventListener('abort', onCancel, { once: true });
      try {
        const before = await inspect(name);
        if (before === null) {
          return {
            kind: 'Infrastructure',
            pod: null,
            exitCode: null,
            reason: 'ContainerDeleted',
            message: `container ${name} was removed before it ended`,
            startedAt: null,
            finishedAt: null,
            result: null,
            terminationMessage: null,
          };
        }
        const startFailed = before.State.Status === 'created' && before.State.Error !== '';
        if (startFailed) {
          return {
            ...classifyContainerEnd(
              name,
              { exitCode: before.State.ExitCode || 128, oom: false, startedAt: null, finishedAt: null },
              null,
              input.timeoutSeconds,
            ),
            reason: 'StartError',
            message: before.State.Error,
          };
        }
        if (before.State.Status === 'running') armDeadline(isoOrNull(before.State.StartedAt));
        if (before.State.Status !== 'exited' && before.State.Status !== 'dead') {
          const event = await died;
          if (event === null) throw ctx.cancellationSignal.reason;
        }
        // One read after the end for the engine's own timestamps and OOM flag.
        const after = await inspect(name);
        if (after === null) {
          throw new Error(`container ${name} was removed right after it ended`);
        }
        return classifyContainerEnd(
          name,
          {
            exitCode: after.State.ExitCode,
            oom: oom || after.State.OOMKilled,
            startedAt: isoOrNull(after.State.StartedAt),
            finishedAt: after.State.FinishedAt === zeroTime ? null : isoOrNull(after.State.FinishedAt),
          },
          progress.deadlineAt,
          input.timeoutSeconds,
        );
      } finally {
        stopHeartbeat();
        clearTimeout(deadline);
        stopListening();
        ctx.cancellationSignal.removeEventListener('abort', onCancel);
      }
    },

    async storeLogs(input) {
      const ctx = Context.current();
      const prior = captureCheckpointSchema.safeParse(ctx.info.heartbeatDetails);
      const resume = prior.success ? prior.data : null;
      const abort = new AbortController();
      const drain = new AbortController();
      const onCancel = (): void => {
        const reason: unknown = ctx.cancellationSignal.reason;
        if (reason instanceof Error && reason.message === 'CANCELLED') drain.abort(reason);
        else abort.abort(reason);
      };
      if (ctx.cancellationSignal.aborted) onCancel();
      else ctx.cancellationSignal.addEventListener('abort', onCancel, { once: true });
      let capture: LogCapture | null = null;
      const stopHeartbeat = startHeartbeat(ctx, () => capture?.checkpoint() ?? resume ?? undefined, 1000);
      try {
        const name = attemptContainerName(input.evaluationId, input.attempt);
        const ran = resume !== null || (await started(name, AbortSignal.any([abort.signal, drain.signal])));
        if (abort.signal.aborted) throw abort.signal.reason;
        if (!ran) return null;
        capture = new LogCapture({
          store: deps.store,
          source: dockerSource(name),
          keys: {
            stdout: storageKeys.stdout(input.evaluationId, input.attempt),
            stderr: storageKeys.stderr(input.evaluationId, input.attempt),
            combined: storageKeys.combined(input.evaluationId, input.attempt),
            events: storageKeys.events(input.evaluationId, input.attempt),
          },
          pod: name,
          split: true,
          rules: input.multiline ?? {},
          resume,
          ...(deps.onStoredBytes !== undefined ? { onStoredBytes: deps.onStoredBytes } : {}),
          onCheckpoint: (checkpoint) => ctx.heartbeat(checkpoint),
        });
        const result = await capture.run({ abort: abort.signal, drain: drain.signal });
        return {
          split: true,
          stdout: result.files.stdout?.key ?? null,
          stderr: result.files.stderr?.key ?? null,
          combined: null,
          events: result.events.key,
          bytes: (result.files.stdout?.bytes ?? 0) + (result.files.stderr?.bytes ?? 0),
          lines: result.lines,
        } satisfies AttemptLogs;
      } finally {
        stopHeartbeat();
        ctx.cancellationSignal.removeEventListener('abort', onCancel);
      }
    },

    collect: (input) => outputs.collectOutputs(input),

    async delete(ref) {
      const name = attemptContainerName(ref.evaluationId, ref.attempt);
      let jobDeleted = false;
      try {
        await engine.json(`/containers/${name}`, { method: 'DELETE', query: { force: true, v: true } });
        jobDeleted = true;
      } catch (err) {
        if (!(err instanceof EngineError && err.statusCode === 404)) throw err;
      }
      try {
        await engine.json(`/volumes/${name}`, { method: 'DELETE' });
      } catch (err) {
        if (!(err instanceof EngineError && err.statusCode === 404)) throw err;
      }
      return { jobDeleted, finalizersRemoved: 0 };
    },

    async describe(ref) {
      const name = attemptContainerName(ref.evaluationId, ref.attempt);
      const c = await inspect(name);
      if (c === null) return { executor: 'docker', name: null, state: 'absent', exitCode: null, labels: {} };
      return {
        executor: 'docker',
        name,
        state: c.State.Status,
        exitCode: c.State.Status === 'exited' ? c.State.ExitCode : null,
        labels: c.Config.Labels ?? {},
      };
    },
  };
}
