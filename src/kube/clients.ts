/**
 * Kubernetes clients for one cluster, built from a kubeconfig file/context or the in-cluster service account, plus
 * the few raw HTTP calls the generated clients do not offer (streamed pod logs, apiserver metrics).
 */
import { inClientSpan, tracedKubeApi } from '../telemetry/ports.js';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import {
  BatchV1Api,
  CoreV1Api,
  KubeConfig,
  NetworkingV1Api,
  Watch,
  ApiException,
  type ApiConstructor,
  type ApiType,
} from '@kubernetes/client-node';

/** Where a cluster's credentials come from. */
export type KubeSource =
  | { readonly kind: 'kubeconfig'; readonly path: string | null; readonly context: string | null }
  | { readonly kind: 'in-cluster' };

/** The source of a registry entry's credentials: in-cluster, or its kubeconfig (path and context; null: defaults). */
export function kubeSourceOf(entry: {
  readonly inCluster: boolean;
  readonly kubeconfig: { readonly path: string | null; readonly context: string | null } | null;
}): KubeSource {
  return entry.inCluster
    ? { kind: 'in-cluster' }
    : {
        kind: 'kubeconfig',
        path: entry.kubeconfig?.path ?? null,
        context: entry.kubeconfig?.context ?? null,
      };
}

export interface KubeClients {
  readonly config: KubeConfig;
  readonly core: CoreV1Api;
  readonly batch: BatchV1Api;
  readonly networking: NetworkingV1Api;
  readonly watch: Watch;
}

/** Thrown when a cluster's credentials cannot be loaded; names the source. */
export class KubeConfigError extends Error {
  readonly code = 'KUBE_CONFIG_INVALID';
  constructor(
    readonly source: string,
    options?: ErrorOptions,
  ) {
    super(`cannot load Kubernetes credentials from ${source}`, options);
    this.name = 'KubeConfigError';
  }
}

/**
 * How long one call of the generated clients may take, response body included, unless the caller passes a signal of
 * its own. The API server ends a non-streaming request after 60 s itself (`--request-timeout`), but a request can
 * also hang below HTTP (a connection that never answers): one of 50 concurrent `cleanupAttempt`s waited for its
 * activity's 120 s start-to-close timeout that way. With a deadline, the call fails and the activity retries at once.
 */
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

/** Why a call of the generated clients was aborted: it outlived its deadline. */
export class KubeRequestTimeoutError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly timeoutMs: number,
  ) {
    super(`Kubernetes API request ${method} ${url} had no answer within ${timeoutMs / 1000} s`);
    this.name = 'KubeRequestTimeoutError';
  }
}

/** Gives every request of `config`'s generated clients a deadline (see {@link DEFAULT_REQUEST_TIMEOUT_MS}). */
function withRequestDeadline(config: KubeConfig, timeoutMs: number): void {
  if (timeoutMs <= 0) return;
  const apply = config.applySecurityAuthentication.bind(config);
  config.applySecurityAuthentication = async (context) => {
    await apply(context);
    if (context.getSignal() !== undefined) return;
    const controller = new AbortController();
    const error = new KubeRequestTimeoutError(String(context.getHttpMethod()), context.getUrl(), timeoutMs);
    // Unref'd: a pending deadline keeps no process alive; it fires into an already settled request harmlessly.
    setTimeout(() => controller.abort(error), timeoutMs).unref();
    context.setSignal(controller.signal);
  };
}

/** Told of every failed Kubernetes API call: its HTTP status (`404`, `409`, `500`, …), `timeout`, or `network`. */
export type KubeApiErrorHook = (code: string) => void;

/** The hook of the clients a KubeConfig was built for, so the raw calls ({@link openGet}) report too. */
const errorHooks = new WeakMap<KubeConfig, KubeApiErrorHook>();

/** The `code` label of a failed call; null for a call its caller aborted (or a watch that idled out). */
export function apiErrorCode(err: unknown): string | null {
  const status = apiStatus(err);
  if (status !== undefined) return String(status);
  if (err instanceof KubeRequestTimeoutError) return 'timeout';
  const name = typeof err === 'object' && err !== null && 'name' in err ? err.name : undefined;
  if (name === 'AbortError' || name === 'TimeoutError') return null;
  return 'network';
}

function report(hook: KubeApiErrorHook | undefined, err: unknown): void {
  const code = hook === undefined ? null : apiErrorCode(err);
  if (code !== null) hook?.(code);
}

/** `api` with every method's rejection reported to `hook` (the generated clients' methods all return promises). */
function reportingApi<T extends object>(api: T, hook: KubeApiErrorHook): T {
  return new Proxy(api, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]): unknown => {
        const result: unknown = Reflect.apply(value, target, args);
        const thenable = typeof result === 'object' && result !== null && 'then' in result;
        if (!thenable || typeof result.then !== 'function') return result;
        return Promise.resolve(result as PromiseLike<unknown>).catch((err: unknown) => {
          report(hook, err);
          throw err;
        });
      };
    },
  });
}

/** A watch whose failures (a non-200 answer, a broken stream, an `ERROR` event) are reported to `hook`. */
function reportingWatch(watch: Watch, hook: KubeApiErrorHook): Watch {
  const start = watch.watch.bind(watch);
  watch.watch = (path, query, callback, done) =>
    start(
      path,
      query,
      (phase, object: unknown, raw: unknown) => {
        if (phase === 'ERROR') {
          const code = (object as { code?: unknown } | null)?.code;
          hook(typeof code === 'number' ? String(code) : 'unknown');
        }
        callback(phase, object, raw);
      },
      (err: unknown) => {
        if (err !== null && err !== undefined) report(hook, err);
        done(err);
      },
    ).catch((err: unknown) => {
      report(hook, err);
      throw err;
    });
  return watch;
}

/**
 * Builds clients for one cluster. With `onApiError`, every failed call through them is reported: the generated
 * clients' methods, the watch, and the raw GETs ({@link openGet}, {@link getText}) made with their `config`. This is
 * the one place Kubernetes API calls of the worker pass through: other API clients are made with {@link apiClient};
 * exec streams (`./exec-stream.ts`) are not covered.
 *
 * @throws {KubeConfigError} when the kubeconfig cannot be read or the context does not exist.
 */
export function createKubeClients(
  source: KubeSource,
  options: {
    readonly onApiError?: KubeApiErrorHook;
    /** Deadline of each call of the generated clients (not watches or streams); 0: none. */
    readonly requestTimeoutMs?: number;
  } = {},
): KubeClients {
  const config = new KubeConfig();
  const label =
    source.kind === 'in-cluster'
      ? 'the in-cluster service account'
      : (source.path ?? 'the default kubeconfig');
  try {
    if (source.kind === 'in-cluster') config.loadFromCluster();
    else if (source.path !== null) config.loadFromFile(source.path);
    else config.loadFromDefault();
    if (source.kind === 'kubeconfig' && source.context !== null) config.setCurrentContext(source.context);
    if (config.getCurrentCluster() === null) throw new Error('no current cluster');
  } catch (err) {
    throw new KubeConfigError(label, { cause: err });
  }
  withRequestDeadline(config, options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS);
  const hook = options.onApiError;
  const clients = {
    config,
    // Each call in a span of its own (src/telemetry/ports.ts).
    core: tracedKubeApi(config.makeApiClient(CoreV1Api), config.getCurrentContext()),
    batch: tracedKubeApi(config.makeApiClient(BatchV1Api), config.getCurrentContext()),
    networking: tracedKubeApi(config.makeApiClient(NetworkingV1Api), config.getCurrentContext()),
    watch: new Watch(config),
  };
  if (hook === undefined) return clients;
  errorHooks.set(config, hook);
  return {
    config,
    core: reportingApi(clients.core, hook),
    batch: reportingApi(clients.batch, hook),
    networking: reportingApi(clients.networking, hook),
    watch: reportingWatch(clients.watch, hook),
  };
}

/**
 * An API client of `kube`'s cluster beyond the ones {@link KubeClients} holds (custom objects, scheduling, …), its
 * failed calls reported like theirs when `kube` was built with `onApiError`.
 */
export function apiClient<T extends ApiType>(kube: Pick<KubeClients, 'config'>, type: ApiConstructor<T>): T {
  const api = kube.config.makeApiClient(type);
  const hook = errorHooks.get(kube.config);
  return hook === undefined ? api : reportingApi(api, hook);
}

/** The HTTP status of a Kubernetes API error, or undefined for anything else (network errors, bugs). */
export function apiStatus(err: unknown): number | undefined {
  if (err instanceof ApiException) return err.code;
  if (typeof err === 'object' && err !== null && 'statusCode' in err && typeof err.statusCode === 'number') {
    return err.statusCode;
  }
  return undefined;
}

/** The value of a Kubernetes read, or null when the object does not exist (404); every other error propagates. */
export async function orNullOn404<T>(read: Promise<T>): Promise<T | null> {
  try {
    return await read;
  } catch (err) {
    if (apiStatus(err) === 404) return null;
    throw err;
  }
}

/**
 * The value of a Kubernetes create, or null when an object of that name exists already (409): for objects whose
 * name fixes their content, so an existing one is the one this call would have made.
 */
export async function orNullOn409<T>(create: Promise<T>): Promise<T | null> {
  try {
    return await create;
  } catch (err) {
    if (apiStatus(err) === 409) return null;
    throw err;
  }
}

/** A Kubernetes list answer: the items and the collection's resourceVersion. */
export interface KubeList<T> {
  readonly items: T[];
  readonly metadata?: { readonly resourceVersion?: string };
}

/**
 * Adapts a list call to what `watchUntil` (`./watch.ts`) lists with: the items and the resourceVersion to watch from.
 *
 * @example `list: listForWatch(() => core.listNamespacedPod({ namespace, labelSelector }))`
 */
export function listForWatch<T>(
  list: () => Promise<KubeList<T>>,
): () => Promise<{ items: T[]; resourceVersion: string }> {
  return async () => {
    const listed = await list();
    return { items: listed.items, resourceVersion: listed.metadata?.resourceVersion ?? '' };
  };
}

/** The `message` of a Kubernetes `Status` error body, when there is one. */
export function apiMessage(err: unknown): string {
  if (err instanceof ApiException) {
    const body: unknown = err.body;
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    try {
      const parsed = JSON.parse(text) as { message?: unknown };
      if (typeof parsed.message === 'string') return parsed.message;
    } catch {
      // not JSON: fall through to the raw text
    }
    return text;
  }
  return err instanceof Error ? err.message : String(err);
}

/** Raised for a non-200 answer to a raw GET. */
export class KubeHttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly path: string,
    readonly body: string,
  ) {
    super(`GET ${path} answered ${statusCode}: ${body.slice(0, 300)}`);
    this.name = 'KubeHttpError';
  }
}

/**
 * Opens a streamed GET against the API server (e.g. `pods/log`). The caller consumes or destroys the response.
 *
 * @throws {KubeHttpError} for any status other than 200 (the body is read for the message).
 */
export async function openGet(
  config: KubeConfig,
  path: string,
  query: Record<string, string>,
  signal?: AbortSignal,
): Promise<IncomingMessage> {
  // The span ends when the response starts: a streamed log's own time is its capture's (the activity span).
  return await inClientSpan(`k8s GET ${resourceOf(path)}`, { 'url.path': path }, () =>
    openGetUntraced(config, path, query, signal),
  );
}

/** `pods/log` of `/api/v1/namespaces/x/pods/y/log`, `metrics` of `/metrics`: the path without names. */
function resourceOf(path: string): string {
  const segments = path.split('/').filter((s) => s !== '');
  const pods = segments.indexOf('pods');
  if (pods >= 0 && pods + 2 < segments.length) return `pods/${segments.slice(pods + 2).join('/')}`;
  return segments.at(-1) ?? path;
}

async function openGetUntraced(
  config: KubeConfig,
  path: string,
  query: Record<string, string>,
  signal?: AbortSignal,
): Promise<IncomingMessage> {
  const cluster = config.getCurrentCluster();
  if (cluster === null) throw new Error('no current cluster in the kubeconfig');
  const url = new URL(cluster.server + path);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  const options: RequestOptions = { method: 'GET', headers: {} };
  await config.applyToHTTPSOptions(options);
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  try {
    const response = await new Promise<IncomingMessage>((resolve, reject) => {
      const req = request(url, { ...options, ...(signal !== undefined ? { signal } : {}) }, resolve);
      req.on('error', reject);
      req.end();
    });
    if (response.statusCode !== 200) {
      const chunks: Buffer[] = [];
      for await (const chunk of response) chunks.push(chunk as Buffer);
      throw new KubeHttpError(response.statusCode ?? 0, path, Buffer.concat(chunks).toString('utf8'));
    }
    return response;
  } catch (err) {
    report(errorHooks.get(config), err);
    throw err;
  }
}

/** Reads a small API server resource as text (e.g. `/metrics` for feature gates). */
export async function getText(config: KubeConfig, path: string, signal?: AbortSignal): Promise<string> {
  const response = await openGet(config, path, {}, signal);
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
