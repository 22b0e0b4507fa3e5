/**
 * A real HTTP webhook receiver on loopback for the notification tests: it counts every TCP connection, records every
 * request (headers, body, arrival time), verifies signatures with the independent `standardwebhooks` package (not
 * Assay's code), and answers each path from a script (status codes, `Retry-After`, or hanging until the client goes).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** One scripted answer: a status (with optional headers), or `hang` (never answer). */
export type Answer = { status: number; headers?: Record<string, string> } | 'hang';

export interface ReceivedRequest {
  path: string;
  at: number;
  headers: Record<string, string>;
  body: string;
  /** Which of the path's secrets verified the signature (indexes into the secrets given for the path). */
  verifiedBy: number[];
  /** For a hung request: when the client closed the connection. */
  closedAt?: number;
}

export interface WebhookReceiver {
  readonly port: number;
  /** Every TCP connection accepted, whatever came of it. */
  connections(): number;
  requests(path: string): ReceivedRequest[];
  /** Scripts `path`: answers in order, the last one repeated; `secrets` are tried on every request. */
  script(path: string, answers: Answer[], secrets?: string[]): void;
  close(): Promise<void>;
}

function headersOf(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) if (typeof v === 'string') out[k] = v;
  return out;
}

/** Starts a receiver on 127.0.0.1 (an ephemeral port). */
export async function startWebhookReceiver(): Promise<WebhookReceiver> {
  let connections = 0;
  const received = new Map<string, ReceivedRequest[]>();
  const scripts = new Map<string, { answers: Answer[]; secrets: string[] }>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const path = (req.url ?? '/').split('?')[0] ?? '/';
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = headersOf(req);
      const script = scripts.get(path) ?? { answers: [{ status: 200 }], secrets: [] };
      const verifiedBy = script.secrets.flatMap((secret, i) => {
        try {
          new Webhook(secret).verify(body, headers);
          return [i];
        } catch {
          return [];
        }
      });
      const list = received.get(path) ?? [];
      const entry: ReceivedRequest = { path, at: Date.now(), headers, body, verifiedBy };
      list.push(entry);
      received.set(path, list);
      const answer = script.answers[Math.min(list.length - 1, script.answers.length - 1)] ?? { status: 200 };
      if (answer === 'hang') {
        res.on('close', () => (entry.closedAt = Date.now()));
        return;
      }
      res.writeHead(answer.status, answer.headers ?? {});
      res.end('ok');
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    connections: () => connections,
    requests: (path) => received.get(path) ?? [],
    script(path, answers, secrets = []) {
      scripts.set(path, { answers, secrets });
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
