/**
 * Ten real `docker run` lines and what `assay migrate docker-run` must make of each (docs/migration.md, "The
 * mapping"): shared by the unit tests of the converter and the executor conformance suite, which runs the portable
 * ones on both executors.
 */
import { parse as parseShell } from 'shell-quote';
import { toManifest } from '../../src/migrate/container-options.js';
import { readDockerRun } from '../../src/migrate/docker-run.js';
import { parseEvaluationJob } from '../../src/spec/index.js';

/** The stack's local images (src/stack/images/catalog.ts), spelled out so that the unit tier imports no stack code. */
const python = 'localhost/assay/python:3';
const busybox = 'localhost/assay/busybox:1.35';

/** How a portable line runs on the local stack, the same on every executor. */
export interface LocalRun {
  /** The local stand-in for the image the line names. */
  readonly image: string;
  readonly stdout: string;
  readonly outcome: 'Succeeded' | 'Failed';
  readonly exitCode: number;
}

export interface DockerRunLine {
  readonly line: string;
  /** The manifest's spec, without team and user. */
  readonly spec: Record<string, unknown>;
  readonly name?: string;
  /** The options warned about, in order. */
  readonly warnings: string[];
  readonly local?: LocalRun;
}

/** The files the lines name (`--env-file`, `--label-file`) and the shell's environment (`-e K`). */
const files: Record<string, string> = {
  'eval.env': '# the model under test\nMODEL=llama-3-8b\n\nSEED=7\nHF_TOKEN\n',
  'labels.txt': 'suite=nightly\n',
};
export const dockerRunInputs = {
  readFile: (path: string) => {
    const text = files[path];
    if (text === undefined) throw new Error(`no file ${path}`);
    return text;
  },
  hostEnv: { HF_TOKEN: 'hf_abc' },
};

/** A command line split as a POSIX shell would. */
export function words(line: string): string[] {
  return parseShell(line).map((w) => {
    if (typeof w !== 'string') throw new Error(`not a word: ${JSON.stringify(w)}`);
    return w;
  });
}

/** `line` converted for `owner`, and the verdict of the schema `assay run` uses. */
export function convertDockerRun(line: string, owner: { team: string; user: string }) {
  const options = readDockerRun(words(line), dockerRunInputs);
  const manifest = toManifest(options, owner);
  const checked = parseEvaluationJob(manifest);
  return { options, manifest, checked, spec: (manifest as { spec: Record<string, unknown> }).spec };
}

/**
 * Real command lines of the kinds teams run evaluations with; each must give a valid manifest (test/unit/migrate).
 * `local` marks the portable ones, which the executor conformance suite runs on both executors: the image they name
 * swapped for the local stack's equivalent (it has no registry), with what both must print and how both must end.
 */
export const dockerRunLines: readonly DockerRunLine[] = [
  {
    line: 'docker run --rm python:3.12-slim python -c "print(42)"',
    spec: { image: 'python:3.12-slim', args: ['python', '-c', 'print(42)'] },
    warnings: [],
    local: { image: python, stdout: '42\n', outcome: 'Succeeded', exitCode: 0 },
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
    local: { image: busybox, stdout: '', outcome: 'Failed', exitCode: 1 },
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
    local: { image: busybox, stdout: 'llama-3-8b\n', outcome: 'Succeeded', exitCode: 0 },
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
    local: { image: busybox, stdout: '', outcome: 'Succeeded', exitCode: 0 },
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
    local: { image: python, stdout: '', outcome: 'Failed', exitCode: 3 },
  },
];
