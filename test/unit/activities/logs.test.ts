import { describe, expect, it } from '@jest/globals';
import { Readable } from 'node:stream';
import { unlessContainerRemoved } from '../../../src/activities/logs.js';
import { LogGoneError } from '../../../src/logs/source.js';

async function read(chunks: string[]): Promise<string> {
  const body = Readable.from(chunks.map((c) => Buffer.from(c)));
  let out = '';
  for await (const chunk of unlessContainerRemoved(body, 'ns/pod')) out += chunk.toString();
  return out;
}

describe('unlessContainerRemoved', () => {
  it('passes a log through unchanged, however it is chunked', async () => {
    const log = '2026-12-01T05:47:16.1Z unable to retrieve container logs for x\n2026-12-01T05:47:17Z b\n';
    expect(await read([log])).toBe(log);
    expect(await read(['2', log.slice(1)])).toBe(log);
    expect(await read([])).toBe('');
  });

  it("turns the kubelet's 200 notice of a removed container into LogGoneError, not a line of the log", async () => {
    const notice = 'unable to retrieve container logs for containerd://9c06c1f5d002';
    await expect(read([notice])).rejects.toBeInstanceOf(LogGoneError);
    await expect(read(['unable to ', notice.slice(10)])).rejects.toBeInstanceOf(LogGoneError);
  });
});
