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
import { openArtifact } from '../../../src/artifacts/read.js';
import type { GetOptions, ObjectStore } from '../../../src/storage/object-store.js';

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
    get(key: string, options: GetOptions = {}) {
      const b = objects.get(key);
      if (b === undefined) return Promise.reject(new Error(`no ${key}`));
      const { range } = options;
      return Promise.resolve(
        Readable.from([range === undefined ? b : b.subarray(range.offset, range.offset + range.length)]),
      );
    },
  };
  return store as unknown as ObjectStore & { objects: Map<string, Buffer> };
}

type PackHeader = Parameters<ReturnType<typeof tar.pack>['entry']>[0];

function tarOf(entries: { header: PackHeader; body?: string }[]): Readable {
  const pack = tar.pack();
  for (const e of entries) pack.entry(e.header, e.body ?? '');
  pack.finalize();
  // A Node stream, as the exec's stdout is.
  return Readable.from(pack);
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
      {
        path: 'x/y.txt',
        key: 'evaluations/e1/artifact-packs/0.pack',
        bytes: 5,
        sha256: sha('hello'),
        offset: 0,
      },
    ]);
    expect(out.violations.map((v) => v.kind)).toEqual([
      'absolutePath',
      'parentTraversal',
      'linkOutside',
      'specialFile',
      'tooManyFiles',
    ]);
    expect([...store.objects.keys()]).toEqual(['evaluations/e1/artifact-packs/0.pack']);
  });

  it('packs small files (a few objects for 20,000 files), gives large ones their own object, reads each back', async () => {
    const store = memoryStore();
    let putsInFlight = 0;
    let maxInFlight = 0;
    const put = store.put.bind(store);
    store.put = async (...args: Parameters<ObjectStore['put']>) => {
      maxInFlight = Math.max(maxInFlight, ++putsInFlight);
      await new Promise((r) => setImmediate(r));
      try {
        return await put(...args);
      } finally {
        putsInFlight--;
      }
    };
    const files = Array.from({ length: 20_000 }, (_, i) => ({
      name: `d${i % 7}/f${i}.txt`,
      body: `file ${i}\n`,
    }));
    const big = 'B'.repeat(3000);
    const source = tarOf([
      ...files
        .slice(0, 10_000)
        .map((f) => ({ header: { name: `artifacts/${f.name}`, size: f.body.length }, body: f.body })),
      { header: { name: 'artifacts/big.bin', size: big.length }, body: big },
      ...files
        .slice(10_000)
        .map((f) => ({ header: { name: `artifacts/${f.name}`, size: f.body.length }, body: f.body })),
    ]);
    const progress = { files: 0, bytes: 0 };
    const out = await extractTar(source, {
      evaluationId: 'e2',
      store,
      progress,
      policy: new EntryPolicy({ paths: ['.'], maxBytes: 10_000_000, maxFiles: 30_000 }, null),
      packing: { maxFileBytes: 1024, packBytes: 64 * 1024, uploads: 2 },
    });
    expect(out.manifest).toHaveLength(20_001);
    expect(progress.files).toBe(20_001);
    const bigEntry = out.manifest.find((e) => e.path === 'big.bin')!;
    expect(bigEntry).toEqual({
      path: 'big.bin',
      key: 'evaluations/e2/artifacts/big.bin',
      bytes: 3000,
      sha256: sha(big),
    });
    const packs = [...store.objects.keys()].filter((k) => k.includes('/artifact-packs/'));
    const totalSmall = files.reduce((n, f) => n + f.body.length, 0);
    // Greedy packing of ~12-byte files: every pack but the last is nearly full.
    expect(packs.length).toBeGreaterThanOrEqual(Math.ceil(totalSmall / (64 * 1024)));
    expect(packs.length).toBeLessThanOrEqual(Math.ceil(totalSmall / (63 * 1024)));
    expect(packs.every((k) => store.objects.get(k)!.length <= 64 * 1024)).toBe(true);
    expect(maxInFlight).toBeLessThanOrEqual(3); // two packs, or one pack and the large file
    for (const [i, entry] of out.manifest.entries()) {
      const expected = entry.path === 'big.bin' ? big : files[i < 10_000 ? i : i - 1]!.body;
      if (i % 997 === 0 || entry.path === 'big.bin') {
        const chunks: Buffer[] = [];
        for await (const c of await openArtifact(store, entry)) chunks.push(c as Buffer);
        expect(Buffer.concat(chunks).toString()).toBe(expected);
      }
      expect(entry.sha256).toBe(sha(expected));
    }
  });

  it('fails when a pack cannot be stored', async () => {
    const store = memoryStore();
    store.put = () => Promise.reject(new Error('store down'));
    const source = tarOf(
      Array.from({ length: 50 }, (_, i) => ({
        header: { name: `artifacts/f${i}`, size: 100 },
        body: 'x'.repeat(100),
      })),
    );
    await expect(
      extractTar(source, {
        evaluationId: 'e3',
        store,
        policy: new EntryPolicy({ paths: ['.'], maxBytes: 1_000_000, maxFiles: 100 }, null),
        packing: { maxFileBytes: 1024, packBytes: 1000, uploads: 2 },
      }),
    ).rejects.toThrow('store down');
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
      await downloadArtifact(store, { path: 'a/b.txt', key: 'k1', bytes: 7, sha256: sha('content') }, dir);
      await store.put('pack', 'xxcontentyy');
      await downloadArtifact(
        store,
        { path: 'p.txt', key: 'pack', bytes: 7, offset: 2, sha256: sha('content') },
        dir,
      );
      expect(await readFile(join(dir, 'p.txt'), 'utf8')).toBe('content');
      expect(await readFile(join(dir, 'a/b.txt'), 'utf8')).toBe('content');
      await expect(
        downloadArtifact(store, { path: 'bad.txt', key: 'k1', bytes: 7, sha256: sha('other') }, dir),
      ).rejects.toBeInstanceOf(ArtifactDigestMismatchError);
      await expect(readFile(join(dir, 'bad.txt'))).rejects.toThrow();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
