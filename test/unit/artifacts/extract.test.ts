import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import tar from 'tar-stream';
import { extractTar } from '../../../src/artifacts/extract.js';
import { EntryPolicy } from '../../../src/artifacts/policy.js';
import {
  ArtifactDigestMismatchError,
  downloadArtifact,
  downloadTarget,
} from '../../../src/client/cli/artifacts.js';
import type { ObjectStore } from '../../../src/storage/object-store.js';

/** Just enough of the port for extraction and download: objects in a Map. */
function memoryStore(): ObjectStore & { objects: Map<string, Buffer> } {
  const objects = new Map<string, Buffer>();
  const store = {
    bucket: 'memory',
    objects,
    async put(key: string, body: Readable | Buffer | string) {
      if (typeof body === 'string' || Buffer.isBuffer(body)) objects.set(key, Buffer.from(body));
      else {
        const chunks: Buffer[] = [];
        for await (const c of body) chunks.push(c as Buffer);
        objects.set(key, Buffer.concat(chunks));
      }
      return { key, etag: undefined, parts: 1 };
    },
    get(key: string) {
      const b = objects.get(key);
      if (b === undefined) return Promise.reject(new Error(`no ${key}`));
      return Promise.resolve(Readable.from([b]));
    },
  };
  return store as unknown as ObjectStore & { objects: Map<string, Buffer> };
}

type PackHeader = Parameters<ReturnType<typeof tar.pack>['entry']>[0];

function tarOf(entries: { header: PackHeader; body?: string }[]): Readable {
  const pack = tar.pack();
  for (const e of entries) pack.entry(e.header, e.body ?? '');
  pack.finalize();
  return pack as unknown as Readable;
}

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');

describe('extractTar', () => {
  it('stores admitted files under the prefix with their sha256 and reports everything else', async () => {
    const store = memoryStore();
    const source = tarOf([
      { header: { name: 'result/r.json', size: 8 }, body: '{"a": 1}' },
      { header: { name: 'artifacts/', type: 'directory' } },
      { header: { name: 'artifacts/x/y.txt', size: 5 }, body: 'hello' },
      { header: { name: '/etc/passwd', size: 4 }, body: 'root' },
      { header: { name: 'artifacts/../../escape', size: 3 }, body: 'bad' },
      { header: { name: 'artifacts/l', type: 'symlink', linkname: '/etc/passwd' } },
      { header: { name: 'artifacts/dev', type: 'character-device' } },
      { header: { name: 'artifacts/z.txt', size: 2 }, body: 'zz' },
    ]);
    const out = await extractTar(source, {
      evaluationId: 'e1',
      store,
      policy: new EntryPolicy({ paths: ['.'], maxBytes: 100, maxFiles: 1 }, { path: 'r.json', maxBytes: 64 }),
    });
    expect(out.result?.toString()).toBe('{"a": 1}');
    expect(out.manifest).toEqual([
      { path: 'x/y.txt', key: 'evaluations/e1/artifacts/x/y.txt', bytes: 5, sha256: sha('hello') },
    ]);
    expect(out.violations.map((v) => v.kind)).toEqual([
      'absolutePath',
      'parentTraversal',
      'linkOutside',
      'specialFile',
      'tooManyFiles',
    ]);
    expect([...store.objects.keys()]).toEqual(['evaluations/e1/artifacts/x/y.txt']);
  });
});

describe('download', () => {
  it('refuses targets outside the directory and checks the digest before the final name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'assay-dl-'));
    try {
      expect(() => downloadTarget(dir, '../x')).toThrow();
      expect(() => downloadTarget(dir, '/etc/passwd')).toThrow();
      const store = memoryStore();
      await store.put('k1', 'content');
      await downloadArtifact(store, { path: 'a/b.txt', key: 'k1', sha256: sha('content') }, dir);
      expect(await readFile(join(dir, 'a/b.txt'), 'utf8')).toBe('content');
      await expect(
        downloadArtifact(store, { path: 'bad.txt', key: 'k1', sha256: sha('other') }, dir),
      ).rejects.toBeInstanceOf(ArtifactDigestMismatchError);
      await expect(readFile(join(dir, 'bad.txt'))).rejects.toThrow();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
