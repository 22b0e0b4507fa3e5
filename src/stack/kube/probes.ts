import { request } from 'node:https';
import { readFile, readdir } from 'node:fs/promises';
import { parseCmdline } from '../proc.js';

/** TLS material for a probe: the CA to trust and, optionally, a client certificate. */
export interface TlsIdentity {
  readonly ca?: string;
  readonly certFile?: string;
  readonly keyFile?: string;
}

/**
 * GETs an HTTPS URL and reports `true` for a 2xx answer, otherwise what went wrong. Without a CA the server's
 * certificate is not verified (the controller-manager and scheduler serve self-signed ones on loopback).
 */
export async function httpsProbe(
  url: string,
  tls: TlsIdentity = {},
  timeoutMs = 3_000,
): Promise<true | string> {
  const res = await httpsGet(url, tls, timeoutMs);
  if (typeof res === 'string') return res;
  return res.status >= 200 && res.status < 300
    ? true
    : `GET ${url} answered ${res.status}: ${res.body.slice(0, 300)}`;
}

/**
 * One HTTPS GET on a fresh connection that is closed afterwards (a keep-alive socket would hold the caller's event
 * loop open, e.g. Jest's global setup, for the server's idle timeout).
 *
 * @returns the status and body, or a description of the failure.
 */
export async function httpsGet(
  url: string,
  tls: TlsIdentity = {},
  timeoutMs = 3_000,
): Promise<{ status: number; body: string } | string> {
  let files: (Buffer | undefined)[];
  try {
    files = await Promise.all([
      tls.ca ? readFile(tls.ca) : undefined,
      tls.certFile ? readFile(tls.certFile) : undefined,
      tls.keyFile ? readFile(tls.keyFile) : undefined,
    ]);
  } catch (err) {
    return `cannot read TLS files: ${err instanceof Error ? err.message : String(err)}`;
  }
  const [ca, cert, key] = files;
  return new Promise((resolvePromise) => {
    const req = request(
      url,
      {
        method: 'GET',
        ca,
        cert,
        key,
        rejectUnauthorized: ca !== undefined,
        timeout: timeoutMs,
        agent: false,
        headers: { Connection: 'close', Accept: 'application/json' },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolvePromise({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', (err) => resolvePromise(`GET ${url} failed: ${err.message}`));
    req.end();
  });
}

/** Live processes whose command line contains every one of `needles` (e.g. containerd shims of our socket). */
export async function findProcesses(needles: readonly string[]): Promise<number[]> {
  const pids: number[] = [];
  for (const d of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    const cmdline = await readFile(`/proc/${d}/cmdline`, 'utf8').catch(() => '');
    if (cmdline === '') continue;
    const args = parseCmdline(cmdline).join(' ');
    if (needles.every((n) => args.includes(n))) pids.push(Number(d));
  }
  return pids;
}

/** SIGKILLs pids and waits (up to 5 s) until they are gone. */
export async function killAndWait(pids: readonly number[]): Promise<void> {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (let i = 0; i < 50; i++) {
    const alive = pids.filter((pid) => {
      try {
        process.kill(pid, 0);
        return true;
      } catch {
        return false;
      }
    });
    if (alive.length === 0) return;
    await new Promise((r) => setTimeout(r, 100));
  }
}
