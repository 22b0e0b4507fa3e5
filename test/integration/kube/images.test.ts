import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { Exec, type V1Status } from '@kubernetes/client-node';
import tar from 'tar-stream';
import {
  COLLECTOR,
  PYTHON,
  connect,
  container,
  createNamespace,
  deleteNamespace,
  eventually,
  podSpec,
  waitForTermination,
} from './cluster.js';

// The locally built images on the real node: a real CPython that fails the way evaluation scripts fail, and exec
// streaming a tar of a directory back through the API server and the kubelet (how artifacts leave a pod).

describe('local images', () => {
  const c = connect();
  let namespace: string;

  beforeAll(async () => {
    namespace = await createNamespace(c, 'it-images', { 'pod-security.kubernetes.io/enforce': 'restricted' });
  });

  afterAll(async () => {
    await deleteNamespace(c, namespace);
  });

  it('runs real Python, which prints a multi-line traceback to stderr', async () => {
    const script = ['import json', 'def grade(x):', '    return json.loads(x)["score"]', 'grade("{}")'].join(
      '\n',
    );
    // A script file, as evaluations run them: the traceback then quotes the failing source lines too.
    const run = `cat > /work/grade.py <<'EOF'\n${script}\nEOF\nexec python3 /work/grade.py`;
    await c.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'python' },
        spec: podSpec(
          [
            container('main', PYTHON, ['sh', '-c', run], {
              volumeMounts: [{ name: 'work', mountPath: '/work' }],
            }),
          ],
          {
            volumes: [{ name: 'work', emptyDir: {} }],
          },
        ),
      },
    });
    const terminated = await waitForTermination(c, namespace, 'python');
    expect(terminated.exitCode).toBe(1);
    const stderr = await c.core.readNamespacedPodLog({ name: 'python', namespace, stream: 'Stderr' });
    const lines = stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('Traceback (most recent call last):');
    expect(stderr).toContain('  File "/work/grade.py", line 4, in <module>\n    grade("{}")\n');
    expect(stderr).toContain(
      '  File "/work/grade.py", line 3, in grade\n    return json.loads(x)["score"]\n',
    );
    expect(lines[lines.length - 1]).toBe("KeyError: 'score'");
    expect(await c.core.readNamespacedPodLog({ name: 'python', namespace, stream: 'Stdout' })).toBe('');
  }, 120_000);

  it('streams a tar of a directory out of a running pod through exec', async () => {
    const prepare =
      'mkdir -p /work/out/sub && echo hello > /work/out/a.txt && printf x > /work/out/sub/b.bin && touch /work/ready';
    await c.core.createNamespacedPod({
      namespace,
      body: {
        metadata: { name: 'collector' },
        spec: podSpec(
          [
            container(
              'main',
              COLLECTOR,
              ['sh', '-c', `${prepare} && exec sh -c 'trap "exit 0" TERM; while :; do sleep 1; done'`],
              {
                volumeMounts: [{ name: 'work', mountPath: '/work' }],
              },
            ),
          ],
          { volumes: [{ name: 'work', emptyDir: { sizeLimit: '16Mi' } }] },
        ),
      },
    });
    await eventually(
      'the collector pod to run',
      async () => {
        const p = await c.core.readNamespacedPod({ name: 'collector', namespace });
        return p.status?.containerStatuses?.[0]?.state?.running ? true : undefined;
      },
      90_000,
    );

    const chunks: Buffer[] = [];
    const stdout = new Writable({
      write(chunk: Buffer, _enc, cb) {
        chunks.push(chunk);
        cb();
      },
    });
    const errs: Buffer[] = [];
    const stderr = new Writable({
      write(chunk: Buffer, _enc, cb) {
        errs.push(chunk);
        cb();
      },
    });
    const status = await new Promise<V1Status>((resolvePromise, reject) => {
      new Exec(c.kc)
        .exec(
          namespace,
          'collector',
          'main',
          ['sh', '-c', 'while [ ! -e /work/ready ]; do sleep 0.2; done; tar cf - -C /work out'],
          stdout,
          stderr,
          null,
          false,
          resolvePromise,
        )
        .catch(reject);
    });
    expect(status.status).toBe('Success');

    const files = new Map<string, string>();
    const extract = tar.extract();
    const parsed = (async () => {
      for await (const entry of extract) {
        const body: Buffer[] = [];
        for await (const b of entry) body.push(b as Buffer);
        files.set(entry.header.name.replace(/\/$/, ''), Buffer.concat(body).toString('utf8'));
      }
    })();
    extract.end(Buffer.concat(chunks));
    await parsed;
    expect(Buffer.concat(chunks).length).toBeGreaterThanOrEqual(3 * 512);
    expect(files.get('out/a.txt')).toBe('hello\n');
    expect(files.get('out/sub/b.bin')).toBe('x');
    expect([...files.keys()].sort()).toEqual(['out', 'out/a.txt', 'out/sub', 'out/sub/b.bin']);
    expect(Buffer.concat(errs).toString('utf8')).toBe('');
  }, 120_000);
});
