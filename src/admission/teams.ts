/**
 * Which team a namespace belongs to: its label `assay.dev/team` (docs/kubernetes.md, "Teams and namespaces"). An
 * EvaluationJob in a namespace without it is refused, and one naming another team is refused: the label, set by
 * whoever administers the namespace, is what lets its users spend that team's quota and budget.
 *
 * @packageDocumentation
 */
import { ApiException, CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { labelKeys } from '../spec/kube-labels.js';

/** The namespace label that maps a namespace to its team. */
export const namespaceTeamLabel = labelKeys.team;

/** What the webhooks know of a namespace. */
export type NamespaceTeam =
  | { readonly kind: 'team'; readonly team: string }
  | { readonly kind: 'unmapped' }
  | { readonly kind: 'missing' };

/** Looks up the team of a namespace. Throws when the API server cannot answer. */
export interface NamespaceTeams {
  teamOf(namespace: string): Promise<NamespaceTeam>;
}

/** Reads the namespace from the API server at each call (one GET; no cache, so a new label counts at once). */
export function kubeNamespaceTeams(config: KubeConfig, timeoutMs = 2_000): NamespaceTeams {
  const core = config.makeApiClient(CoreV1Api);
  return {
    async teamOf(namespace) {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_resolve, reject) => {
        timer = setTimeout(
          () => reject(new Error(`reading namespace ${namespace} took more than ${timeoutMs} ms`)),
          timeoutMs,
        );
      });
      try {
        const ns = await Promise.race([core.readNamespace({ name: namespace }), timeout]);
        const team = ns.metadata?.labels?.[namespaceTeamLabel];
        return team === undefined ? { kind: 'unmapped' } : { kind: 'team', team };
      } catch (err) {
        if (err instanceof ApiException && err.code === 404) return { kind: 'missing' };
        throw err;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
