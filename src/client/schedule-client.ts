/**
 * Assay schedules over Temporal Schedules (docs/schedules.md): `assay-schedule-<name>` starts the `scheduledRun`
 * workflow on every slot; that workflow starts one batch or evaluation whose id carries the slot's time.
 */
import {
  ScheduleAlreadyRunning,
  ScheduleNotFoundError,
  ScheduleOverlapPolicy,
  type Client,
} from '@temporalio/client';
import { z } from 'zod';
import { parseEvaluationBatch } from '../spec/evaluation-batch.js';
import { evaluationBatchKind } from '../spec/evaluation-batch-schema.js';
import { InvalidEvaluationSpecError, parseEvaluationJob } from '../spec/evaluation-job.js';
import { workflowTaskQueue } from '../spec/names.js';
import {
  scheduleId,
  scheduleNameSchema,
  scheduledRunId,
  scheduledRunResultSchema,
  scheduledRunWorkflowId,
  scheduledRunWorkflowType,
  type ScheduledRunInput,
  type ScheduledRunResult,
} from '../spec/schedule.js';
import { searchAttributeKeys } from '../spec/search-attribute-keys.js';
import { specLimits } from '../spec/spec-constants.js';

export const overlapPolicies = {
  skip: ScheduleOverlapPolicy.SKIP,
  'buffer-one': ScheduleOverlapPolicy.BUFFER_ONE,
  'allow-all': ScheduleOverlapPolicy.ALLOW_ALL,
  'cancel-other': ScheduleOverlapPolicy.CANCEL_OTHER,
} as const;
export type OverlapName = keyof typeof overlapPolicies;

/** A schedule's input was refused: the field and the reason. */
export class InvalidScheduleError extends Error {
  readonly code = 'ASSAY_INVALID_SCHEDULE';
  constructor(
    readonly field: string,
    readonly reason: string,
  ) {
    super(`${field}: ${reason}`);
    this.name = 'InvalidScheduleError';
  }
}

/** `create` of a name that exists, without `update`. */
export class ScheduleExistsError extends Error {
  readonly code = 'ASSAY_SCHEDULE_EXISTS';
  constructor(readonly scheduleName: string) {
    super(`schedule ${scheduleName} already exists; pass --update to replace it`);
    this.name = 'ScheduleExistsError';
  }
}

export class AssayScheduleNotFoundError extends Error {
  readonly code = 'ASSAY_SCHEDULE_NOT_FOUND';
  constructor(readonly scheduleName: string) {
    super(`no schedule ${scheduleName}`);
    this.name = 'AssayScheduleNotFoundError';
  }
}

const cronField = /^[0-9A-Za-z*?,/#LW-]+$/;
const cronMacro = /^@(yearly|annually|monthly|weekly|daily|midnight|hourly)$/;
const durationText = z
  .string()
  .regex(
    /^\d+(\.\d+)?\s*(ms|s|m|h|d|seconds?|minutes?|hours?|days?)$/,
    'must be a duration like 10m, 1h or 2 days',
  );

/** A cron expression the schedule accepts: five fields, or a macro such as `@daily`. */
export function checkCron(cron: string): string | undefined {
  const trimmed = cron.trim();
  if (cronMacro.test(trimmed)) return undefined;
  const fields = trimmed.split(/\s+/);
  if (fields.length !== 5)
    return `needs 5 fields (minute hour day-of-month month day-of-week), found ${fields.length}`;
  const bad = fields.find((f) => !cronField.test(f));
  return bad === undefined ? undefined : `field ${JSON.stringify(bad)} is not a cron field`;
}

export interface CreateScheduleOptions {
  readonly cron: string;
  readonly timezone?: string;
  readonly overlap?: OverlapName;
  readonly catchupWindow?: string;
  readonly pauseOnFailure?: boolean;
  readonly onlyIfPreviousSucceeded?: boolean;
  /** Replace an existing schedule of that name instead of refusing. */
  readonly update?: boolean;
}

export interface RecentRun {
  readonly scheduledAt: Date;
  readonly takenAt: Date;
  readonly workflowId: string;
  /** The scheduled run's status (RUNNING, COMPLETED, FAILED, …). */
  readonly status: string;
  readonly result: ScheduledRunResult | null;
}

export interface ScheduleDescription {
  readonly name: string;
  readonly scheduleId: string;
  /** As given to create (kept in the schedule's memo). */
  readonly cron: string | null;
  readonly timezone: string | null;
  readonly paused: boolean;
  readonly note: string | null;
  readonly overlap: string;
  readonly nextRuns: Date[];
  readonly recentRuns: RecentRun[];
}

function validName(name: string): string {
  const parsed = scheduleNameSchema.safeParse(name);
  if (!parsed.success)
    throw new InvalidScheduleError('NAME', parsed.error.issues.map((i) => i.message).join('; '));
  return name;
}

/** Validates the manifest (a batch or a job) as the scheduled runs will use it. */
export function scheduledTarget(name: string, manifest: unknown): ScheduledRunInput['target'] {
  const sample = scheduledRunId(name, new Date(0));
  if ((manifest as { kind?: unknown } | null)?.kind === evaluationBatchKind) {
    const parsed = parseEvaluationBatch({
      ...(manifest as object),
      metadata: { ...((manifest as { metadata?: object }).metadata ?? {}), name: sample },
    });
    if (!parsed.ok) throw new InvalidEvaluationSpecError(parsed.issues);
    return { kind: 'batch', batch: parsed.value.batch };
  }
  const parsed = parseEvaluationJob(manifest);
  if (!parsed.ok) throw new InvalidEvaluationSpecError(parsed.issues);
  if (sample.length > specLimits.nameLength) {
    throw new InvalidScheduleError(
      'NAME',
      `too long: the evaluation ids ${sample} would exceed ${specLimits.nameLength} characters`,
    );
  }
  return {
    kind: 'job',
    job: JSON.parse(JSON.stringify(parsed.value)) as Extract<
      ScheduledRunInput['target'],
      { kind: 'job' }
    >['job'],
  };
}

export class ScheduleClient {
  constructor(
    readonly temporal: Client,
    readonly taskQueue: string = workflowTaskQueue,
  ) {}

  /**
   * Creates the schedule (or replaces it with `update`).
   * @throws {InvalidScheduleError} for a bad name, cron, window or a cron the server refuses.
   * @throws {InvalidEvaluationSpecError} when the manifest is invalid.
   * @throws {ScheduleExistsError} when the name exists and `update` is not set.
   */
  async create(
    name: string,
    manifest: unknown,
    options: CreateScheduleOptions,
  ): Promise<{ scheduleId: string; updated: boolean }> {
    validName(name);
    const cronProblem = checkCron(options.cron);
    if (cronProblem !== undefined) throw new InvalidScheduleError('--cron', cronProblem);
    if (options.catchupWindow !== undefined) {
      const window = durationText.safeParse(options.catchupWindow);
      if (!window.success)
        throw new InvalidScheduleError('--catchup-window', window.error.issues[0]!.message);
    }
    if (options.timezone !== undefined) {
      try {
        new Intl.DateTimeFormat('en', { timeZone: options.timezone });
      } catch {
        throw new InvalidScheduleError('--timezone', `unknown time zone ${JSON.stringify(options.timezone)}`);
      }
    }
    const input: ScheduledRunInput = {
      schedule: name,
      target: scheduledTarget(name, manifest),
      onlyIfPreviousSucceeded: options.onlyIfPreviousSucceeded ?? false,
    };
    const id = scheduleId(name);
    const body = {
      memo: { cron: options.cron.trim() },
      spec: {
        cronExpressions: [options.cron.trim()],
        ...(options.timezone !== undefined ? { timezone: options.timezone } : {}),
      },
      action: {
        type: 'startWorkflow' as const,
        workflowType: scheduledRunWorkflowType,
        workflowId: scheduledRunWorkflowId(name),
        taskQueue: this.taskQueue,
        args: [input],
        typedSearchAttributes: [{ key: searchAttributeKeys.schedule, value: name }],
        staticSummary: `schedule ${name}: ${options.cron}`,
      },
      policies: {
        overlap: overlapPolicies[options.overlap ?? 'skip'],
        pauseOnFailure: options.pauseOnFailure ?? false,
        ...(options.catchupWindow !== undefined
          ? { catchupWindow: options.catchupWindow as `${number}m` }
          : {}),
      },
    };
    try {
      await this.temporal.schedule.create({ scheduleId: id, ...body });
      return { scheduleId: id, updated: false };
    } catch (err) {
      if (err instanceof ScheduleAlreadyRunning) {
        if (options.update !== true) throw new ScheduleExistsError(name);
        await this.temporal.schedule.getHandle(id).update((previous) => ({ ...previous, ...body }));
        return { scheduleId: id, updated: true };
      }
      const message = err instanceof Error ? err.message : String(err);
      if (/cron|invalid/i.test(message)) throw new InvalidScheduleError('--cron', message);
      throw err;
    }
  }

  /** Assay's schedules (names), from the server's list. */
  async list(): Promise<{ name: string; paused: boolean; nextRun: Date | null; note: string | null }[]> {
    const out: { name: string; paused: boolean; nextRun: Date | null; note: string | null }[] = [];
    for await (const s of this.temporal.schedule.list()) {
      if (!s.scheduleId.startsWith('assay-schedule-')) continue;
      out.push({
        name: s.scheduleId.slice('assay-schedule-'.length),
        paused: s.state.paused,
        nextRun: s.info.nextActionTimes[0] ?? null,
        note: s.state.note ?? null,
      });
    }
    return out.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** The schedule, its next runs and its recent runs with their outcomes. */
  async describe(name: string): Promise<ScheduleDescription> {
    const d = await this.handle(name, (h) => h.describe());
    const recentRuns: RecentRun[] = [];
    for (const action of d.info.recentActions) {
      if (action.action.type !== 'startWorkflow') continue;
      const { workflowId, firstExecutionRunId } = action.action.workflow;
      const handle = this.temporal.workflow.getHandle(workflowId, firstExecutionRunId);
      let status = 'UNKNOWN';
      let result: ScheduledRunResult | null = null;
      try {
        const info = await handle.describe();
        status = info.status.name;
        if (status === 'COMPLETED') result = scheduledRunResultSchema.parse(await handle.result());
      } catch {
        // Past the namespace's retention: the run is listed without its outcome.
      }
      recentRuns.push({
        scheduledAt: action.scheduledAt,
        takenAt: action.takenAt,
        workflowId,
        status,
        result,
      });
    }
    return {
      name,
      scheduleId: d.scheduleId,
      cron: typeof d.memo?.cron === 'string' ? d.memo.cron : null,
      timezone: d.spec.timezone ?? null,
      paused: d.state.paused,
      note: d.state.note ?? null,
      overlap: String(d.policies.overlap),
      nextRuns: d.info.nextActionTimes,
      recentRuns,
    };
  }

  async pause(name: string, note?: string): Promise<void> {
    await this.handle(name, (h) => h.pause(note));
  }

  async unpause(name: string, note?: string): Promise<void> {
    await this.handle(name, (h) => h.unpause(note));
  }

  /** Runs the action now (its id carries the time of the trigger). */
  async trigger(name: string): Promise<void> {
    await this.handle(name, (h) => h.trigger(ScheduleOverlapPolicy.ALLOW_ALL));
  }

  /** Runs every slot between `from` and `to`; slots that ran before start nothing new. */
  async backfill(name: string, from: Date, to: Date, overlap: OverlapName = 'allow-all'): Promise<void> {
    if (!(from < to)) throw new InvalidScheduleError('--from', 'must be before --to');
    await this.handle(name, (h) => h.backfill({ start: from, end: to, overlap: overlapPolicies[overlap] }));
  }

  async delete(name: string): Promise<void> {
    await this.handle(name, (h) => h.delete());
  }

  private async handle<T>(
    name: string,
    body: (handle: ReturnType<Client['schedule']['getHandle']>) => Promise<T>,
  ): Promise<T> {
    validName(name);
    try {
      return await body(this.temporal.schedule.getHandle(scheduleId(name)));
    } catch (err) {
      if (err instanceof ScheduleNotFoundError) throw new AssayScheduleNotFoundError(name);
      throw err;
    }
  }
}
