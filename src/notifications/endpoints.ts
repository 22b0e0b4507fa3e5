/**
 * The webhook endpoints of a normalised spec, as the evaluation workflow and `assay notifications` see them. Pure: the
 * workflow imports it.
 */
import type { WebhookEndpoint } from './payload.js';
import { terminalEvents, webhookEvents, type WebhookEvent } from '../spec/spec-constants.js';

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * The endpoints of a normalised spec (`spec.webhooks`). No zod here: the client validated the spec, and the workflow
 * only maps it (docs/architecture.md, step 1); an entry it cannot use is skipped.
 */
export function webhookEndpointsOf(manifest: unknown): WebhookEndpoint[] {
  const spec = isObject(manifest) && isObject(manifest.spec) ? manifest.spec : {};
  const list = Array.isArray(spec.webhooks) ? spec.webhooks : [];
  const endpoints: WebhookEndpoint[] = [];
  list.forEach((entry: unknown, index) => {
    if (!isObject(entry) || typeof entry.url !== 'string') return;
    const events = (Array.isArray(entry.events) ? entry.events : terminalEvents).filter(
      (e): e is WebhookEvent => (webhookEvents as readonly unknown[]).includes(e),
    );
    const ref = entry.secretRef;
    const secretRef =
      isObject(ref) && typeof ref.name === 'string' && typeof ref.key === 'string'
        ? { name: ref.name, key: ref.key }
        : null;
    endpoints.push({ index, url: entry.url, events, secretRef });
  });
  return endpoints;
}
