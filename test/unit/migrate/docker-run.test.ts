import { describe, expect, it } from '@jest/globals';
import { printManifest } from '../../../src/client/cli/migrate.js';
import { DockerRunParseError, readDockerRun } from '../../../src/migrate/docker-run.js';
import { convertDockerRun, dockerRunInputs, dockerRunLines, words } from '../../support/docker-run-lines.js';

const read = dockerRunInputs;
const owner = { team: 'research', user: 'ada' };
const convert = (line: string) => convertDockerRun(line, owner);
const cases = dockerRunLines;

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
