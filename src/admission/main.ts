/**
 * Starting and stopping the admission server: what `assay admission` runs and what the integration tests start
 * in-process.
 *
 * @packageDocumentation
 */
import type { Server } from 'node:https';
import { KubeConfig } from '@kubernetes/client-node';
import { pino, type Logger } from 'pino';
import {
  loadAdmissionConfig,
  readAdmissionTls,
  type AdmissionConfig,
  type AdmissionFlags,
} from './config.js';
import { close, createAdmissionServer, listen } from './server.js';
import { kubeNamespaceTeams, type NamespaceTeams } from './teams.js';

/** A running admission server. */
export interface RunningAdmission {
  readonly config: AdmissionConfig;
  readonly url: string;
  readonly server: Server;
  /** Stops accepting requests; resolves once those in flight are answered. */
  stop(): Promise<void>;
}

export interface StartAdmissionOptions {
  readonly flags?: AdmissionFlags;
  readonly env?: Readonly<Record<string, string | undefined>>;
  readonly logger?: Logger;
  /** Where namespaces' teams come from; the API server of `$KUBECONFIG` (or the in-cluster one) by default. */
  readonly teams?: NamespaceTeams;
}

/** The admission server's log: JSON lines on stderr, like the worker's. */
export function admissionLogger(level: AdmissionConfig['logLevel']): Logger {
  return pino(
    {
      name: 'assay-admission',
      level,
      base: { pid: process.pid },
      formatters: { level: (label) => ({ level: label }) },
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    pino.destination({ fd: 2, sync: true }),
  );
}

/**
 * Loads the configuration, reads the certificate and starts listening.
 * @throws {AdmissionConfigError} for an invalid configuration or an unreadable certificate; the listen error when the
 *   address is taken.
 */
export async function startAdmission(options: StartAdmissionOptions = {}): Promise<RunningAdmission> {
  const env = options.env ?? process.env;
  const config = loadAdmissionConfig(options.flags, env);
  const tls = readAdmissionTls(config, env);
  const logger = options.logger ?? admissionLogger(config.logLevel);
  let teams = options.teams;
  if (teams === undefined) {
    const kube = new KubeConfig();
    kube.loadFromDefault();
    teams = kubeNamespaceTeams(kube);
  }
  const server = createAdmissionServer({
    cert: tls.cert,
    key: tls.key,
    teams,
    teamDefaults: config.teamDefaults,
    logger,
  });
  const address = await listen(server, config.host, config.port);
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `https://${host}:${address.port}`;
  logger.info({ url, certFile: tls.certFile }, 'assay admission listening');
  return { config, url, server, stop: () => close(server) };
}
