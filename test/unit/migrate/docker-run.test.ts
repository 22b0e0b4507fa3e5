import { describe, expect, it } from '@jest/globals';
import { parse as parseShell } from 'shell-quote';
import { printManifest } from '../../../src/client/cli/migrate.js';
import { toManifest } from '../../../src/migrate/container-options.js';
import { DockerRunParseError, readDockerRun } from '../../../src/migrate/docker-run.js';
import { parseEvaluationJob } from '../../../src/spec/index.js';

const files: Record<string, string> = {
  'eval.env': '# the model under test\nMODEL=llama-3-8b\n\nSEED=7\nHF_TOKEN\n',
  'labels.txt': 'suite=nightly\n',
};
const read = {
  readFile: (path: string) => {
    const text = files[path];
    if (text === undefined) throw new Error(`no file ${path}`);
    return text;
  },
  hostEnv: { HF_TOKEN: 'hf_abc' },
};
const owner = { team: 'research', user: 'ada' };

function words(line: string): string[] {
  return parseShell(line).map((w) => {
    if (typeof w !== 'string') throw new Error(`not a word: ${JSON.stringify(w)}`);
    return w;
  });
}

function convert(line: string) {
  const options = readDockerRun(words(line), read);
  const manifest = toManifest(options, owner);
  const checked = parseEvaluationJob(manifest);
  return { options, manifest, checked, spec: (manifest as { spec: Record<string, unknown> }).spec };
}

/** Real command lines of the kinds teams run evaluations with; each must give a valid manifest. */
const cases: {
  line: string;
  spec: Record<string, unknown>;
  name?: string;
  warnings: string[];
}[] = [
  {
    line: 'docker run --rm python:3.12-slim python -c "print(42)"',
    spec: { image: 'python:3.12-slim', args: ['python', '-c', 'print(42)'] },
    warnings: [],
  },
  {
    line: 'docker run --rm -it -e MODEL=gpt2 -e BATCH=8 --cpus 2 -m 4g --name mmlu-gpt2 ghcr.io/acme/evals:1.4 --task mmlu',
    spec: {
      image: 'ghcr.io/acme/evals:1.4',
      args: ['--task', 'mmlu'],
      env: [
        { name: 'MODEL', value: 'gpt2' },
        { name: 'BATCH', value: '8' },
      ],
      resources: { cpu: '2', memory: '4Gi' },
    },
    name: 'mmlu-gpt2',
    warnings: ['-i', '-t'],
  },
  {
    line: 'docker run --gpus 2 --shm-size=8g --ipc=host -v /models:/models nvcr.io/nvidia/pytorch:24.01-py3 python bench.py',
    spec: {
      image: 'nvcr.io/nvidia/pytorch:24.01-py3',
      args: ['python', 'bench.py'],
      resources: { gpu: { count: 2 } },
    },
    warnings: ['--shm-size 8g', '--ipc host', '-v /models:/models'],
  },
  {
    line: "docker run --read-only --cap-drop=ALL --security-opt=no-new-privileges --network=none --user 1000:1000 --tmpfs /tmp -w /work grader:latest sh -c 'python grade.py > /tmp/out'",
    spec: { image: 'grader:latest', args: ['sh', '-c', 'python grade.py > /tmp/out'], workingDir: '/work' },
    warnings: ['--user 1000:1000', '--tmpfs /tmp'],
  },
  {
    line: 'docker run --privileged --cap-add SYS_ADMIN --pid host ubuntu:22.04 dmesg',
    spec: { image: 'ubuntu:22.04', args: ['dmesg'] },
    warnings: ['--privileged', '--cap-add SYS_ADMIN', '--pid host'],
  },
  {
    line: "docker run --entrypoint /bin/sh --env-file eval.env --label-file labels.txt -l owner=ada alpine:3 -c 'echo $MODEL'",
    spec: {
      image: 'alpine:3',
      command: ['/bin/sh'],
      args: ['-c', 'echo $MODEL'],
      env: [
        { name: 'MODEL', value: 'llama-3-8b' },
        { name: 'SEED', value: '7' },
        { name: 'HF_TOKEN', value: 'hf_abc' },
      ],
    },
    warnings: ['--env-file eval.env'],
  },
  {
    line: 'docker run -d -p 8080:8080 --restart on-failure:3 --memory-reservation 1g --memory 2g --cpus 0.5 harness:2 serve',
    spec: {
      image: 'harness:2',
      args: ['serve'],
      resources: { memory: '1Gi', cpu: '500m', limits: { memory: '2Gi' } },
      retries: { maxAttempts: 4 },
    },
    warnings: ['-p 8080:8080'],
  },
  {
    line: 'docker container run --security-opt seccomp=unconfined --security-opt apparmor=unconfined --network host busybox:1.36 true',
    spec: { image: 'busybox:1.36', args: ['true'] },
    warnings: ['--security-opt seccomp=unconfined', '--security-opt apparmor=unconfined', '--network host'],
  },
  {
    line: 'docker run --gpus \'"device=0,1"\' --runtime nvidia -e CUDA_VISIBLE_DEVICES=0,1 vllm/vllm-openai:v0.6.0 --model m',
    spec: {
      image: 'vllm/vllm-openai:v0.6.0',
      args: ['--model', 'm'],
      env: [{ name: 'CUDA_VISIBLE_DEVICES', value: '0,1' }],
      resources: { gpu: { count: 2 } },
    },
    warnings: ['--gpus "device=0,1"', '--runtime nvidia'],
  },
  {
    line: 'docker run --rm --mount type=bind,src=/data,dst=/data --device /dev/fuse --ulimit nofile=1024 --pids-limit 256 localhost/assay/python:3 python3 -c "import sys; sys.exit(3)"',
    spec: {
      image: 'localhost/assay/python:3',
      args: ['python3', '-c', 'import sys; sys.exit(3)'],
    },
    warnings: [
      '--mount type=bind,src=/data,dst=/data',
      '--device /dev/fuse',
      '--ulimit nofile=1024',
      '--pids-limit 256',
    ],
  },
];

describe('assay migrate docker-run', () => {
  it.each(cases)('$line', ({ line, spec, name, warnings }) => {
    const { options, manifest, checked, spec: produced } = convert(line);
    expect(checked.ok ? [] : checked.issues).toEqual([]);
    expect(produced).toEqual({ team: 'research', user: 'ada', ...spec });
    expect((manifest as { metadata?: { name?: string } }).metadata?.name).toBe(name);
    expect(options.warnings.map((w) => w.option)).toEqual(warnings);
    for (const w of options.warnings)
      expect(w.reason).toMatch(/^(refused|not |ignored|all |specific|[A-Z_]+: |[A-Z_]+ takes)/);
  });

  it('says why what lowers isolation is refused', () => {
    const { options } = convert('docker run --privileged --cap-add NET_ADMIN --user root alpine id');
    expect(options.warnings).toEqual([
      { option: '--privileged', reason: expect.stringContaining('restricted Pod Security Standard') },
      { option: '--cap-add NET_ADMIN', reason: expect.stringContaining('NET_ADMIN cannot be added') },
      { option: '--user root', reason: expect.stringContaining('non-root') },
    ]);
  });

  it('groups short flags and reads attached values', () => {
    const { spec } = convert('docker run -it -eA=1 -m512m -w/app img:1');
    expect(spec).toMatchObject({
      env: [{ name: 'A', value: '1' }],
      workingDir: '/app',
      resources: { memory: '512Mi' },
    });
  });

  it.each([
    ['docker run --frobnicate img', 'unknown docker run option --frobnicate'],
    ['docker run -Z img', 'unknown docker run option -Z'],
    ['docker run --rm', 'no image'],
    ['docker run -m lots img', '-m lots: "lots" is not a size'],
    ['docker run --cpus -1 img', 'is not a number of CPUs'],
    ['docker run img --cpus', null],
  ])('%s', (line, error) => {
    if (error === null) {
      // Options after the image belong to the command.
      expect(readDockerRun(words(line), read).cmd).toEqual(['--cpus']);
    } else {
      expect(() => readDockerRun(words(line), read)).toThrow(DockerRunParseError);
      expect(() => readDockerRun(words(line), read)).toThrow(error);
    }
  });

  it('exits 0 with warnings on stderr, 2 when the result is not a valid manifest', () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = {
      stdout: { write: (t: string) => out.push(t) },
      stderr: { write: (t: string) => err.push(t) },
      env: {},
      readFile: read.readFile,
    };
    const ok = printManifest(
      readDockerRun(words('docker run --privileged alpine:3 true'), read),
      { ...owner, output: 'yaml' },
      io,
    );
    expect(ok).toBe(0);
    expect(out.join('')).toContain('image: alpine:3');
    expect(err.join('')).toMatch(/^warning: --privileged: refused/);
    out.length = 0;
    err.length = 0;
    const bad = printManifest(
      readDockerRun(words('docker run --cpus 999 alpine:3 true'), read),
      { ...owner, output: 'json' },
      io,
    );
    expect(bad).toBe(2);
    expect(out).toEqual([]);
    expect(err.join('')).toContain('spec.resources.cpu');
  });
});
