import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Watch, type V1Job } from '@kubernetes/client-node';
import {
  BUSYBOX,
  connect,
  container,
  createNamespace,
  deleteNamespace,
  eventually,
  podOfJob,
  podSpec,
  uniqueName,
  waitForTermination,
} from './cluster.js';

// Jobs on the real cluster: exit codes, per-stream logs through the API server, termination messages, quota answers
// and watches — the Kubernetes behaviour the evaluation workflow is built on.

function job(name: string, command: string[]): V1Job {
  return {
    metadata: { name },
    spec: {
      backoffLimit: 0,
      ttlSecondsAfterFinished: 600,
      template: {
        spec: podSpec([
          container('main', BUSYBOX, command, { terminationMessagePolicy: 'FallbackToLogsOnError' }),
        ]),
      },
    },
  };
}

describe('Jobs on the local cluster', () => {
  const c = connect();
  let namespace: string;

  beforeAll(async () => {
    namespace = await createNamespace(c, 'it-jobs');
  });

  afterAll(async () => {
    await deleteNamespace(c, namespace);
  });

  it('ends with the exit code and keeps stdout and stderr apart in the log', async () => {
    const name = uniqueName('exit3');
    await c.batch.createNamespacedJob({
      namespace,
      body: job(name, ['sh', '-c', 'echo out; echo err >&2; exit 3']),
    });
    const pod = await podOfJob(c, namespace, name);
    const terminated = await waitForTermination(c, namespace, pod);
    expect(terminated.exitCode).toBe(3);

    const all = await c.core.readNamespacedPodLog({ name: pod, namespace, container: 'main' });
    expect(all.split('\n').filter(Boolean).sort()).toEqual(['err', 'out']);
    const stdout = await c.core.readNamespacedPodLog({
      name: pod,
      namespace,
      container: 'main',
      stream: 'Stdout',
    });
    expect(stdout).toBe('out\n');
    const stderr = await c.core.readNamespacedPodLog({
      name: pod,
      namespace,
      container: 'main',
      stream: 'Stderr',
    });
    expect(stderr).toBe('err\n');
  }, 120_000);

  it('puts what the container wrote to /dev/termination-log in the pod status', async () => {
    const name = uniqueName('termlog');
    const result = '{"score":0.97,"passed":true}';
    await c.batch.createNamespacedJob({
      namespace,
      body: job(name, ['sh', '-c', `printf '%s' '${result}' > /dev/termination-log`]),
    });
    const pod = await podOfJob(c, namespace, name);
    const terminated = await waitForTermination(c, namespace, pod);
    expect(terminated.exitCode).toBe(0);
    expect(JSON.parse(terminated.message ?? '')).toEqual({ score: 0.97, passed: true });
  }, 120_000);

  it('lets a watch from a resourceVersion see the Job go from active to complete', async () => {
    const list = await c.batch.listNamespacedJob({ namespace });
    const resourceVersion = list.metadata?.resourceVersion;
    expect(resourceVersion).toBeDefined();
    const name = uniqueName('watched');
    const seen: { type: string; active: number; succeeded: number; complete: boolean }[] = [];
    let controller: AbortController | undefined;
    const finished = new Promise<void>((resolvePromise, reject) => {
      void new Watch(c.kc)
        .watch(
          `/apis/batch/v1/namespaces/${namespace}/jobs`,
          { resourceVersion, allowWatchBookmarks: false },
          (type: string, obj: V1Job) => {
            if (obj.metadata?.name !== name) return;
            const complete =
              obj.status?.conditions?.some((cond) => cond.type === 'Complete' && cond.status === 'True') ??
              false;
            seen.push({
              type,
              active: obj.status?.active ?? 0,
              succeeded: obj.status?.succeeded ?? 0,
              complete,
            });
            if (complete) resolvePromise();
          },
          (err: unknown) =>
            err ? reject(err instanceof Error ? err : new Error(JSON.stringify(err))) : undefined,
        )
        .then((ac) => (controller = ac), reject);
    });
    let timer: NodeJS.Timeout | undefined;
    try {
      await c.batch.createNamespacedJob({ namespace, body: job(name, ['sh', '-c', 'sleep 2']) });
      await Promise.race([
        finished,
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no Complete in ${JSON.stringify(seen)}`)), 90_000);
        }),
      ]);
    } finally {
      clearTimeout(timer);
      controller?.abort();
    }
    expect(seen[0]?.type).toBe('ADDED');
    expect(seen.some((e) => e.type === 'MODIFIED' && e.active === 1)).toBe(true);
    const last = seen[seen.length - 1];
    expect(last).toMatchObject({ type: 'MODIFIED', succeeded: 1, complete: true });
  }, 120_000);
});

describe('ResourceQuota on the local cluster', () => {
  const c = connect();
  let namespace: string;

  beforeAll(async () => {
    namespace = await createNamespace(c, 'it-quota');
  });

  afterAll(async () => {
    await deleteNamespace(c, namespace);
  });

  it("makes the Job controller's pod creation fail with exceeded quota", async () => {
    await c.core.createNamespacedResourceQuota({
      namespace,
      body: { metadata: { name: 'team' }, spec: { hard: { pods: '0' } } },
    });
    // Quota admission rejects everything while the quota's usage is unknown: wait for the controller to fill it.
    await eventually('the quota status', async () => {
      const q = await c.core.readNamespacedResourceQuota({ name: 'team', namespace });
      return q.status?.hard?.pods !== undefined ? q : undefined;
    });
    const name = uniqueName('overquota');
    await c.batch.createNamespacedJob({ namespace, body: job(name, ['true']) });
    const event = await eventually('a FailedCreate event on the Job', async () => {
      const events = await c.core.listNamespacedEvent({
        namespace,
        fieldSelector: `involvedObject.kind=Job,involvedObject.name=${name}`,
      });
      return events.items.find((e) => e.reason === 'FailedCreate');
    });
    expect(event.message).toContain('exceeded quota');
    const pods = await c.core.listNamespacedPod({ namespace, labelSelector: `job-name=${name}` });
    expect(pods.items).toHaveLength(0);
  }, 120_000);
});
