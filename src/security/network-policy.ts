/**
 * The NetworkPolicies Assay owns (docs/security.md, "Network"). Every team namespace has one default-deny policy
 * (ingress and egress of every pod); an attempt that may reach something gets its own egress policy selecting only
 * its pods. Policies are additive, so the attempt's policy opens exactly its allow-list and nothing else.
 */
import type { V1NetworkPolicy, V1NetworkPolicyEgressRule } from '@kubernetes/client-node';
import type { JobRequest, JobSecurity } from '../spec/job-request.js';
import { labelKeys, managedByValue } from '../spec/kube-labels.js';
import { attemptJobName } from '../spec/names.js';

/** The namespace-wide policy: no pod of the namespace sends or receives anything unless another policy allows it. */
export const defaultDenyPolicyName = 'assay-default-deny';

export function defaultDenyPolicy(namespace: string, team: string): V1NetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: defaultDenyPolicyName,
      namespace,
      labels: { [labelKeys.managedBy]: managedByValue, [labelKeys.team]: team },
    },
    spec: { podSelector: {}, policyTypes: ['Ingress', 'Egress'] },
  };
}

/** The name of an attempt's egress policy: its Job's name with `-egress`. */
export function attemptPolicyName(evaluationId: string, attempt: number): string {
  return `${attemptJobName(evaluationId, attempt)}-egress`;
}

function egressRules(security: JobSecurity): V1NetworkPolicyEgressRule[] {
  const rules: V1NetworkPolicyEgressRule[] = security.egress.map((rule) => ({
    to: [{ ipBlock: { cidr: rule.cidr, ...(rule.except.length > 0 ? { except: rule.except } : {}) } }],
    ...(rule.ports.length > 0 ? { ports: rule.ports.map((port) => ({ protocol: rule.protocol, port })) } : {}),
  }));
  if (security.dns !== null) {
    rules.push({
      to: [
        {
          namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': security.dns.namespace } },
          podSelector: { matchLabels: security.dns.podLabels },
        },
      ],
      ports: [
        { protocol: 'UDP', port: 53 },
        { protocol: 'TCP', port: 53 },
      ],
    });
  }
  return rules;
}

/**
 * The egress policy of one attempt, or null when the attempt may reach nothing (the default deny covers it). It
 * selects the attempt's pods by their evaluation and attempt labels, so it can exist before the Job does.
 */
export function attemptEgressPolicy(request: JobRequest): V1NetworkPolicy | null {
  const security = request.security;
  if (security === undefined || (security.egress.length === 0 && security.dns === null)) return null;
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: {
      name: attemptPolicyName(request.evaluationId, request.attempt),
      namespace: request.namespace,
      labels: {
        [labelKeys.managedBy]: managedByValue,
        [labelKeys.team]: request.team,
        [labelKeys.evaluationId]: request.evaluationId,
        [labelKeys.attempt]: String(request.attempt),
      },
    },
    spec: {
      podSelector: {
        matchLabels: {
          [labelKeys.evaluationId]: request.evaluationId,
          [labelKeys.attempt]: String(request.attempt),
        },
      },
      policyTypes: ['Egress'],
      egress: egressRules(security),
    },
  };
}
