/**
 * A TCP relay for tests that run Assay inside the local cluster: the stack's Temporal and S3 listen on loopback only,
 * which pods cannot reach, so the test listens on the cluster bridge's own address (reachable from pods and from
 * nothing outside this machine) and pipes each connection to the loopback server.
 */
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { networkInterfaces } from 'node:os';
import { CLUSTER } from '../../src/stack/kube/layout.js';

export interface TcpRelay {
  /** `host:port` pods connect to. */
  readonly address: string;
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** The IPv4 address of the stack's CNI bridge (the pods' gateway). @throws when the bridge does not exist. */
export function bridgeAddress(): string {
  const addr = networkInterfaces()[CLUSTER.bridge]?.find((a) => a.family === 'IPv4');
  if (!addr)
    throw new Error(`no IPv4 address on ${CLUSTER.bridge}: is the local cluster up with a pod running?`);
  return addr.address;
}

/** Listens on `host` (an ephemeral port) and relays every connection to `target` (`host:port`). */
export async function startTcpRelay(host: string, target: string): Promise<TcpRelay> {
  const [targetHost, targetPort] = [
    target.slice(0, target.lastIndexOf(':')),
    Number(target.slice(target.lastIndexOf(':') + 1)),
  ];
  const sockets = new Set<Socket>();
  const server: Server = createServer((inbound) => {
    const outbound = createConnection({ host: targetHost, port: targetPort });
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    inbound.pipe(outbound).pipe(inbound);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    address: `${host}:${port}`,
    host,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
