/**
 * Leader election on a `coordination.k8s.io/v1` Lease (docs/kubernetes.md, "Leader election"). The JavaScript client
 * has no helper; this is the client-go algorithm, small enough to own and test:
 *
 * - A candidate reads the Lease every `retryPeriodMs`. It takes it when it does not exist (create), when it names no
 *   holder, or when the holder has not renewed it for `leaseDurationSeconds` (replace, carrying the resourceVersion
 *   it read, so of two candidates racing for it only one write succeeds: the other gets 409 Conflict).
 * - The leader renews every `renewIntervalMs` (replace with resourceVersion). If it cannot renew for
 *   `renewDeadlineMs` (less than the lease duration) it stops leading before anyone else may start.
 * - Expiry is `renewTime + leaseDurationSeconds`, the holder's clock (the same host's, or NTP-synchronised ones; a
 *   renewTime more than `maxClockSkewMs` in the future counts from when we saw it instead). The candidate sleeps
 *   exactly until that moment rather than a whole retry period, so a SIGKILLed leader is replaced at most
 *   `leaseDurationSeconds` (plus one request) after its last renewal — within the lease duration of the kill.
 *
 * @packageDocumentation
 */
import { V1MicroTime, type CoordinationV1Api, type V1Lease } from '@kubernetes/client-node';
import { apiStatus } from '../kube/clients.js';

/** Reads and writes one Lease; a seam for tests. `null` when it does not exist; `conflict` on 409. */
export interface LeaseStore {
  read(): Promise<V1Lease | null>;
  create(lease: V1Lease): Promise<V1Lease | 'conflict'>;
  replace(lease: V1Lease): Promise<V1Lease | 'conflict'>;
}

/** The Lease `namespace/name` through the real API. */
export function kubeLeaseStore(
  api: CoordinationV1Api,
  namespace: string,
  name: string,
  onRequest?: () => void,
): LeaseStore {
  const conflictOr = async (write: () => Promise<V1Lease>): Promise<V1Lease | 'conflict'> => {
    onRequest?.();
    try {
      return await write();
    } catch (err) {
      if (apiStatus(err) === 409) return 'conflict';
      throw err;
    }
  };
  return {
    async read() {
      onRequest?.();
      try {
        return await api.readNamespacedLease({ name, namespace });
      } catch (err) {
        if (apiStatus(err) === 404) return null;
        throw err;
      }
    },
    create: (lease) => conflictOr(() => api.createNamespacedLease({ namespace, body: lease })),
    replace: (lease) => conflictOr(() => api.replaceNamespacedLease({ name, namespace, body: lease })),
  };
}

export interface LeaderElectionOptions {
  readonly store: LeaseStore;
  readonly name: string;
  readonly namespace: string;
  /** This replica's identity (host name and pid, say); written as the holder. */
  readonly identity: string;
  readonly leaseDurationSeconds?: number;
  readonly renewIntervalMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  readonly maxClockSkewMs?: number;
  readonly now?: () => Date;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Called when this replica becomes leader; the signal aborts when it stops leading. */
  readonly onStartedLeading: (signal: AbortSignal) => void;
  /** Called when this replica stops leading (lost the lease, or shut down). */
  readonly onStoppedLeading?: () => void;
  /** Told of each failed Lease request (logged by the caller). */
  readonly onError?: (err: unknown) => void;
}

export const leaseDefaults = {
  leaseDurationSeconds: 15,
  renewIntervalMs: 5000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2000,
  maxClockSkewMs: 2000,
} as const;

/** Resolves after `ms`, or at once when `signal` aborts (never rejects). */
export function abortableSleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

const toDate = (value: Date | string | undefined): Date | null =>
  value === undefined ? null : value instanceof Date ? value : new Date(value);

/** Runs the election until `signal` aborts; then releases the Lease if held (so a stop hands over at once). */
export class LeaderElector {
  private readonly o: Required<Omit<LeaderElectionOptions, 'onStoppedLeading' | 'onError'>> &
    Pick<LeaderElectionOptions, 'onStoppedLeading' | 'onError'>;
  private leading: AbortController | null = null;
  /** The last Lease we read, and when we first saw its current renewTime. */
  private observed: { lease: V1Lease; at: Date } | null = null;

  constructor(options: LeaderElectionOptions) {
    this.o = { ...leaseDefaults, now: () => new Date(), sleep: abortableSleep, ...options };
  }

  get isLeader(): boolean {
    return this.leading !== null;
  }

  /** When the Lease we last read expires, by the rules above. */
  private expiryOf(lease: V1Lease, seenAt: Date): number {
    const durationMs = (lease.spec?.leaseDurationSeconds ?? this.o.leaseDurationSeconds) * 1000;
    const renew = toDate(lease.spec?.renewTime) ?? toDate(lease.spec?.acquireTime);
    const from =
      renew === null || renew.getTime() > seenAt.getTime() + this.o.maxClockSkewMs ? seenAt : renew;
    return from.getTime() + durationMs;
  }

  private leaseBody(previous: V1Lease | null, transitions: number): V1Lease {
    const now = new V1MicroTime(this.o.now().getTime());
    const held = previous?.spec?.holderIdentity === this.o.identity;
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: {
        name: this.o.name,
        namespace: this.o.namespace,
        ...(previous?.metadata?.resourceVersion !== undefined
          ? { resourceVersion: previous.metadata.resourceVersion }
          : {}),
      },
      spec: {
        holderIdentity: this.o.identity,
        leaseDurationSeconds: this.o.leaseDurationSeconds,
        acquireTime:
          held && previous?.spec?.acquireTime
            ? new V1MicroTime(toDate(previous.spec.acquireTime)!.getTime())
            : now,
        renewTime: now,
        leaseTransitions: transitions,
      },
    };
  }

  /**
   * One try: create, renew or take over the Lease. Returns true when we hold it afterwards, else the time (ms) to wait
   * before the next try.
   */
  async tryAcquireOrRenew(): Promise<true | number> {
    const now = this.o.now();
    const current = await this.o.store.read();
    if (current === null) {
      const created = await this.o.store.create(this.leaseBody(null, 0));
      if (created === 'conflict') return this.o.retryPeriodMs;
      this.observed = { lease: created, at: now };
      return true;
    }
    const renewChanged =
      this.observed === null ||
      this.observed.lease.metadata?.resourceVersion !== current.metadata?.resourceVersion;
    if (renewChanged) this.observed = { lease: current, at: now };
    const holder = current.spec?.holderIdentity ?? '';
    const transitions = current.spec?.leaseTransitions ?? 0;
    if (holder !== this.o.identity && holder !== '') {
      const expiry = this.expiryOf(current, this.observed!.at);
      const left = expiry - now.getTime();
      if (left > 0) return Math.min(this.o.retryPeriodMs, left + 10);
    }
    const next = this.leaseBody(current, holder === this.o.identity ? transitions : transitions + 1);
    const written = await this.o.store.replace(next);
    if (written === 'conflict') return this.o.retryPeriodMs;
    this.observed = { lease: written, at: now };
    return true;
  }

  /** Runs until `signal` aborts. Never throws: errors are reported through `onError` and retried. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      let outcome: true | number;
      try {
        outcome = await this.tryAcquireOrRenew();
      } catch (err) {
        this.o.onError?.(err);
        outcome = this.o.retryPeriodMs;
      }
      if (outcome !== true) {
        await this.o.sleep(outcome, signal);
        continue;
      }
      await this.lead(signal);
    }
    await this.release();
  }

  /** Leads until a renewal fails for `renewDeadlineMs`, the Lease is taken, or `signal` aborts. */
  private async lead(signal: AbortSignal): Promise<void> {
    const leading = new AbortController();
    this.leading = leading;
    this.o.onStartedLeading(leading.signal);
    let lastRenew = this.o.now().getTime();
    try {
      while (!signal.aborted) {
        await this.o.sleep(this.o.renewIntervalMs, signal);
        if (signal.aborted) break;
        let renewed: true | number;
        try {
          renewed = await this.tryAcquireOrRenew();
        } catch (err) {
          this.o.onError?.(err);
          renewed = this.o.retryPeriodMs;
        }
        if (renewed === true) {
          lastRenew = this.o.now().getTime();
          continue;
        }
        // Someone else holds it now, or we could not reach the API server in time: stop acting before the lease
        // could pass to another replica.
        if (this.observed?.lease.spec?.holderIdentity !== this.o.identity) break;
        if (this.o.now().getTime() - lastRenew >= this.o.renewDeadlineMs) break;
      }
    } finally {
      this.leading = null;
      leading.abort();
      this.o.onStoppedLeading?.();
    }
  }

  /** Gives the Lease up (holder cleared, expiring at once) when we hold it; best effort. */
  private async release(): Promise<void> {
    const lease = this.observed?.lease;
    if (lease?.spec?.holderIdentity !== this.o.identity) return;
    try {
      const current = await this.o.store.read();
      if (current?.spec?.holderIdentity !== this.o.identity) return;
      await this.o.store.replace({
        ...current,
        spec: {
          ...current.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: new V1MicroTime(this.o.now().getTime()),
        },
      });
    } catch (err) {
      this.o.onError?.(err);
    }
  }
}
