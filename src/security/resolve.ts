/**
 * From what an evaluation asks (`spec.network`, `spec.security`, its image) and a cluster's policy
 * (`clusters[].security`) to the isolation its attempts get, or the reason the cluster cannot run it. Pure: cluster
 * selection calls it for every candidate, and tests call it directly.
 */
import { cidrContains, linkLocalExcept, parseCidr } from '../spec/cidr.js';
import type { ClusterSecurity } from '../spec/cluster-security-config.js';
import type { JobEgress, JobSecurity } from '../spec/job-request.js';
import { defaultRuntime, type EgressRule, type SeccompLevel } from '../spec/security-schema.js';

/** The isolation-relevant part of an evaluation's plan. */
export interface IsolationRequest {
  readonly image: string;
  /** `spec.network.egress`; null for `none`. */
  readonly egress: readonly EgressRule[] | null;
  readonly seccomp: SeccompLevel | null;
  readonly runtime: string | null;
}

export type IsolationResult = { ok: true; security: JobSecurity } | { ok: false; reason: string };

/** Why the cluster's image policy refuses `image`, or null when it allows it. */
export function imageRefusal(policy: ClusterSecurity['images'], image: string): string | null {
  if (policy.allowedPrefixes !== null && !policy.allowedPrefixes.some((prefix) => image.startsWith(prefix))) {
    return `image ${image} is not from an allowed registry (security.images.allowedPrefixes: ${policy.allowedPrefixes.join(', ')})`;
  }
  if (policy.requireDigest && !/@sha256:[0-9a-f]{64}$/.test(image)) {
    return `image ${image} is not pinned by digest (security.images.requireDigest: write image@sha256:…)`;
  }
  return null;
}

/** A rule as the attempt's policy takes it; a user's block never includes link-local addresses, an operator's may. */
function egressOf(rule: EgressRule, owner: 'user' | 'operator'): JobEgress {
  const except = owner === 'user' ? linkLocalExcept(rule.cidr) : [];
  return { cidr: rule.cidr, except, ports: [...rule.ports], protocol: rule.protocol };
}

/**
 * The isolation of an evaluation on a cluster with `policy`, or why the cluster cannot give it.
 *
 * A runtime the cluster does not offer, an image outside its registries, or an egress block outside what the
 * operator lets users open are refusals (the evaluation is a configuration error when no cluster accepts it).
 */
export function resolveIsolation(policy: ClusterSecurity, request: IsolationRequest): IsolationResult {
  const imageWhy = imageRefusal(policy.images, request.image);
  if (imageWhy !== null) return { ok: false, reason: imageWhy };

  const runtime = request.runtime ?? policy.defaultRuntime;
  const offered = Object.keys(policy.runtimeClasses);
  let runtimeClassName: string | null = null;
  if (runtime !== defaultRuntime) {
    const className = policy.runtimeClasses[runtime];
    if (className === undefined) {
      return {
        ok: false,
        reason: `no ${runtime} runtime (offers ${[defaultRuntime, ...offered].join(', ')}; security.runtimeClasses)`,
      };
    }
    runtimeClassName = className;
  }

  const userEgress = request.egress ?? [];
  const within = policy.network.userEgressWithin.map((c) => parseCidr(c)!);
  for (const rule of userEgress) {
    const block = parseCidr(rule.cidr);
    if (block === null || !within.some((outer) => cidrContains(outer, block))) {
      return {
        ok: false,
        reason: `egress to ${rule.cidr} is not allowed here (security.network.userEgressWithin: ${policy.network.userEgressWithin.join(', ')})`,
      };
    }
  }

  const seccomp = request.seccomp ?? policy.seccomp.default;
  const appArmor = policy.appArmor;
  return {
    ok: true,
    security: {
      runtime,
      runtimeClassName,
      seccomp,
      seccompProfile: seccomp === 'strict' ? policy.seccomp.strictProfile : null,
      appArmor: appArmor === 'off' ? null : appArmor === 'runtimeDefault' ? 'RuntimeDefault' : { ...appArmor },
      appArmorSkipped:
        appArmor === 'off' ? 'the cluster declares no AppArmor on its nodes (security.appArmor: off)' : null,
      egress: [
        ...userEgress.map((rule) => egressOf(rule, 'user')),
        ...policy.network.operatorEgress.map((rule) => egressOf(rule, 'operator')),
      ],
      // DNS only for an evaluation that may reach something by name; the operator's destinations are addresses.
      dns:
        userEgress.length > 0 && policy.network.dns !== null
          ? { namespace: policy.network.dns.namespace, podLabels: { ...policy.network.dns.podLabels } }
          : null,
    },
  };
}
