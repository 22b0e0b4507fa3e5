import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import {
  BUSYBOX,
  apiErrorBody,
  connect,
  container,
  createNamespace,
  deleteNamespace,
  eventually,
  podSpec,
} from './cluster.js';

// Pod Security admission on the real API server: a namespace enforcing `restricted` turns a privileged pod away
// with the admission error and admits a compliant one, which then runs to completion.

describe('Pod Security admission (restricted)', () => {
  const c = connect();
  let namespace: string;

  beforeAll(async () => {
    namespace = await createNamespace(c, 'it-pss', {
      'pod-security.kubernetes.io/enforce': 'restricted',
      'pod-security.kubernetes.io/enforce-version': 'latest',
    });
  });

  afterAll(async () => {
    await deleteNamespace(c, namespace);
  });

  it('rejects a privileged pod with the admission error', async () => {
    const privileged = podSpec([
      container('main', BUSYBOX, ['true'], { securityContext: { privileged: true, runAsUser: 0 } }),
    ]);
    const attempt = c.core.createNamespacedPod({
      namespace,
      body: { metadata: { name: 'privileged' }, spec: privileged },
    });
    const err = await attempt.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeDefined();
    const body = apiErrorBody(err);
    expect(body.code).toBe(403);
    expect(body.message).toContain('violates PodSecurity "restricted:latest"');
    expect(body.message).toContain('privileged');
  });

  it('admits a compliant pod, which runs to completion', async () => {
    await c.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'compliant' },
        spec: podSpec([container('main', BUSYBOX, ['sh', '-c', 'echo compliant'])]),
      },
    });
    const phase = await eventually(
      'the compliant pod to finish',
      async () => {
        const p = await c.core.readNamespacedPod({ name: 'compliant', namespace });
        const ph = p.status?.phase;
        return ph === 'Succeeded' || ph === 'Failed' ? ph : undefined;
      },
      90_000,
    );
    expect(phase).toBe('Succeeded');
    expect(await c.core.readNamespacedPodLog({ name: 'compliant', namespace })).toBe('compliant\n');
  }, 120_000);
});
