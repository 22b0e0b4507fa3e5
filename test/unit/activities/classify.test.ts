import { describe, expect, it } from '@jest/globals';
import type { V1ContainerState, V1Job, V1Pod } from '@kubernetes/client-node';
import {
  classifyPod,
  clusterUnreachable,
  podUnschedulable,
  unschedulableSince,
} from '../../../src/activities/classify.js';

function pod(
  state: V1ContainerState | undefined,
  extra: {
    phase?: string;
    reason?: string;
    deletion?: string;
    grace?: number;
    conditions?: NonNullable<V1Pod['status']>['conditions'];
  } = {},
): V1Pod {
  return {
    metadata: {
      name: 'assay-x-1-abcde',
      ...(extra.deletion !== undefined
        ? { deletionTimestamp: new Date(extra.deletion), deletionGracePeriodSeconds: extra.grace ?? 10 }
        : {}),
    },
    status: {
      phase: extra.phase ?? 'Running',
      ...(extra.reason !== undefined ? { reason: extra.reason } : {}),
      ...(extra.conditions !== undefined ? { conditions: extra.conditions } : {}),
      containerStatuses:
        state === undefined
          ? []
          : [{ name: 'main', image: 'i', imageID: '', ready: false, restartCount: 0, state }],
    },
  };
}

const started = new Date('2025-01-01T00:00:00Z');
const finished = new Date('2025-01-01T00:01:00Z');
function terminated(exitCode: number, reason?: string, message?: string): V1ContainerState {
  return {
    terminated: {
      exitCode,
      startedAt: started,
      finishedAt: finished,
      ...(reason ? { reason } : {}),
      ...(message ? { message } : {}),
    },
  };
}

describe('classifyPod', () => {
  it('is null while the container runs or waits to be created', () => {
    expect(classifyPod(pod({ running: { startedAt: started } }))).toBeNull();
    expect(classifyPod(pod({ waiting: { reason: 'ContainerCreating' } }, { phase: 'Pending' }))).toBeNull();
    expect(classifyPod(pod(undefined, { phase: 'Pending' }))).toBeNull();
  });

  it('exit 0 → Succeeded, with the JSON termination message as result', () => {
    const end = classifyPod(pod(terminated(0, 'Completed', '{"score":0.9}'), { phase: 'Succeeded' }));
    expect(end).toMatchObject({
      kind: 'Succeeded',
      exitCode: 0,
      result: { score: 0.9 },
      terminationMessage: '{"score":0.9}',
    });
    expect(end?.startedAt).toBe(started.toISOString());
    expect(end?.finishedAt).toBe(finished.toISOString());
  });

  it('a start at the Unix epoch (the runtime never recorded it: the container exited at once) is unknown', () => {
    const state = terminated(0, 'Completed');
    state.terminated!.startedAt = new Date(0);
    const end = classifyPod(pod(state, { phase: 'Succeeded' }));
    expect(end).toMatchObject({ kind: 'Succeeded', startedAt: null, finishedAt: finished.toISOString() });
  });

  it('a termination message that is not JSON gives no result', () => {
    expect(classifyPod(pod(terminated(0, 'Completed', 'done'), { phase: 'Succeeded' }))?.result).toBeNull();
  });

  it('non-zero exit → Failed with the exit code', () => {
    expect(classifyPod(pod(terminated(3, 'Error'), { phase: 'Failed' }))).toMatchObject({
      kind: 'Failed',
      exitCode: 3,
      reason: 'Error',
    });
  });

  it('OOMKilled → Failed with reason OOMKilled', () => {
    expect(classifyPod(pod(terminated(137, 'OOMKilled'), { phase: 'Failed' }))).toMatchObject({
      kind: 'Failed',
      reason: 'OOMKilled',
      exitCode: 137,
    });
  });

  it('pod deadline → TimedOut', () => {
    expect(
      classifyPod(pod(terminated(137, 'Error'), { phase: 'Failed', reason: 'DeadlineExceeded' })),
    ).toMatchObject({ kind: 'TimedOut', reason: 'DeadlineExceeded' });
    expect(
      classifyPod(
        pod({ waiting: { reason: 'ContainerCreating' } }, { phase: 'Failed', reason: 'DeadlineExceeded' }),
      ),
    ).toMatchObject({ kind: 'TimedOut' });
  });

  it('a deletion at the spec timeout after the start (the wait stops it) → TimedOut with the killed exit code', () => {
    // Started 00:00:00, timeout 60 s: deletion requested at 00:01:00 with 1 s grace.
    const atDeadline = pod(terminated(137, 'Error'), {
      phase: 'Failed',
      deletion: '2025-01-01T00:01:01Z',
      grace: 1,
    });
    expect(classifyPod(atDeadline, undefined, 60)).toMatchObject({
      kind: 'TimedOut',
      reason: 'DeadlineExceeded',
      exitCode: 137,
    });
    // Without the timeout the same pod is a deletion from outside; before the deadline it is one too.
    expect(classifyPod(atDeadline)).toMatchObject({ kind: 'Infrastructure', reason: 'PodDeleted' });
    expect(classifyPod(atDeadline, undefined, 120)).toMatchObject({ kind: 'Infrastructure' });
  });

  it('a main container that exited 0 succeeded, whatever deadline its pod met later', () => {
    const p = pod(terminated(0, 'Completed'), { phase: 'Failed', reason: 'DeadlineExceeded' });
    expect(classifyPod(p, undefined, 30)).toMatchObject({ kind: 'Succeeded', exitCode: 0 });
    expect(classifyPod(p)).toMatchObject({ kind: 'Succeeded', exitCode: 0 });
  });

  it('Job deadline (the Job controller deletes the pod) → TimedOut, not a deletion', () => {
    const job: V1Job = {
      status: { conditions: [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded' }] },
    };
    const p = pod(terminated(137, 'Error'), { phase: 'Failed', deletion: '2025-01-01T00:01:05Z', grace: 10 });
    expect(classifyPod(p, job)).toMatchObject({ kind: 'TimedOut' });
  });

  it('pod deleted from outside while running → Infrastructure', () => {
    const p = pod(terminated(143, 'Error'), { phase: 'Failed', deletion: '2025-01-01T00:01:05Z', grace: 10 });
    expect(classifyPod(p)).toMatchObject({ kind: 'Infrastructure', reason: 'PodDeleted', exitCode: 143 });
  });

  it('a pod deleted after its container ended keeps the container outcome', () => {
    const p = pod(terminated(0, 'Completed'), {
      phase: 'Succeeded',
      deletion: '2025-01-01T00:05:10Z',
      grace: 10,
    });
    expect(classifyPod(p)).toMatchObject({ kind: 'Succeeded' });
  });

  it('a pod deleted before its container started → Infrastructure', () => {
    const p = pod(
      { waiting: { reason: 'ContainerCreating' } },
      { phase: 'Pending', deletion: '2025-01-01T00:01:05Z' },
    );
    expect(classifyPod(p)).toMatchObject({ kind: 'Infrastructure', reason: 'PodDeleted' });
  });

  it('eviction and disruption → Infrastructure', () => {
    expect(classifyPod(pod(terminated(137, 'Error'), { phase: 'Failed', reason: 'Evicted' }))).toMatchObject({
      kind: 'Infrastructure',
      reason: 'Evicted',
    });
    expect(classifyPod(pod(undefined, { phase: 'Failed', reason: 'Evicted' }))).toMatchObject({
      kind: 'Infrastructure',
      reason: 'Evicted',
    });
    const disrupted = pod(terminated(137, 'Error'), {
      phase: 'Failed',
      conditions: [{ type: 'DisruptionTarget', status: 'True', reason: 'PreemptionByScheduler' }],
    });
    expect(classifyPod(disrupted)).toMatchObject({ kind: 'Infrastructure', reason: 'PreemptionByScheduler' });
  });

  it.each([
    'ErrImageNeverPull',
    'ErrImagePull',
    'ImagePullBackOff',
    'InvalidImageName',
    'CreateContainerConfigError',
    'CreateContainerError',
  ])('waiting reason %s → Configuration at once', (reason) => {
    expect(classifyPod(pod({ waiting: { reason, message: 'why' } }, { phase: 'Pending' }))).toMatchObject({
      kind: 'Configuration',
      reason,
      message: 'why',
    });
  });

  it('a command that cannot start → Configuration', () => {
    expect(
      classifyPod(
        pod(terminated(128, 'StartError', 'exec: "nope": executable file not found'), { phase: 'Failed' }),
      ),
    ).toMatchObject({ kind: 'Configuration', reason: 'StartError' });
  });
});

describe('unschedulableSince and podUnschedulable (spill-over)', () => {
  const since = '2025-01-01T00:00:00Z';
  const at = (seconds: number): number => new Date(since).getTime() + seconds * 1000;
  const scheduler = '0/3 nodes are available: 3 Insufficient nvidia.com/gpu.';
  function pending(
    condition: Partial<NonNullable<NonNullable<V1Pod['status']>['conditions']>[number]> | null,
    extra: { nodeName?: string; deletion?: string } = {},
  ): V1Pod {
    const p = pod(undefined, {
      phase: 'Pending',
      ...(extra.deletion !== undefined ? { deletion: extra.deletion } : {}),
      conditions:
        condition === null
          ? []
          : [
              {
                type: 'PodScheduled',
                status: 'False',
                reason: 'Unschedulable',
                message: scheduler,
                ...condition,
              },
            ],
    });
    p.metadata!.creationTimestamp = new Date('2024-12-31T23:59:50Z');
    p.spec = { containers: [], ...(extra.nodeName !== undefined ? { nodeName: extra.nodeName } : {}) };
    return p;
  }

  it("is the condition's lastTransitionTime, as a Date or as the watch's text", () => {
    expect(unschedulableSince(pending({ lastTransitionTime: new Date(since) }))).toBe(at(0));
    expect(unschedulableSince(pending({ lastTransitionTime: since as unknown as Date }))).toBe(at(0));
  });

  it("counts from the pod's creation when the condition has no transition time", () => {
    expect(unschedulableSince(pending({}))).toBe(at(-10));
  });

  it('is null for a pod that is scheduled, being deleted, not yet judged, or waiting for another reason', () => {
    const t = { lastTransitionTime: new Date(since) };
    expect(unschedulableSince(pending(t, { nodeName: 'node-1' }))).toBeNull();
    expect(unschedulableSince(pending(t, { deletion: '2025-01-01T00:01:00Z' }))).toBeNull();
    expect(unschedulableSince(pending(null))).toBeNull();
    expect(unschedulableSince(pending({ ...t, status: 'True', reason: undefined }))).toBeNull();
    expect(unschedulableSince(pending({ ...t, reason: 'SchedulingGated' }))).toBeNull();
  });

  it("ends the attempt as Infrastructure/Unschedulable with the scheduler's message once the bound has passed", () => {
    const p = pending({ lastTransitionTime: new Date(since) });
    expect(podUnschedulable(p, 30, at(29.9))).toBeNull();
    expect(podUnschedulable(p, 30, at(30))).toEqual({
      kind: 'Infrastructure',
      pod: 'assay-x-1-abcde',
      exitCode: null,
      reason: 'Unschedulable',
      message: `${scheduler}; unschedulable for 30 s`,
      startedAt: null,
      finishedAt: null,
      result: null,
      terminationMessage: null,
    });
    // A retried wait that looks later reports how long it has really been.
    expect(podUnschedulable(p, 30, at(95.5))?.message).toBe(`${scheduler}; unschedulable for 95 s`);
    expect(
      podUnschedulable(pending({ lastTransitionTime: new Date(since), message: '' }), 30, at(30))?.message,
    ).toBe('no node can run the pod; unschedulable for 30 s');
    expect(
      podUnschedulable(pending({ lastTransitionTime: new Date(since) }, { nodeName: 'n' }), 30, at(60)),
    ).toBeNull();
  });
});

describe('clusterUnreachable', () => {
  it('ends the attempt as Infrastructure/ClusterUnreachable, naming the time and the last error', () => {
    expect(clusterUnreachable('assay-x-1-abcde', 120_400, 'no answer within 3 s')).toEqual({
      kind: 'Infrastructure',
      pod: 'assay-x-1-abcde',
      exitCode: null,
      reason: 'ClusterUnreachable',
      message: "the cluster's API server has not answered for 120 s (last error: no answer within 3 s)",
      startedAt: null,
      finishedAt: null,
      result: null,
      terminationMessage: null,
    });
    expect(clusterUnreachable(null, 60_000, null)).toMatchObject({
      pod: null,
      message: "the cluster's API server has not answered for 60 s (last error: unknown)",
    });
  });
});
