/**
 * The worker's notification metrics (prom-client, default registry): every delivery try by outcome, and every dead
 * letter. Whoever exposes the worker's registry (`register.metrics()`) exposes these.
 */
import { Counter, register } from 'prom-client';
import type { AttemptOutcome } from './payload.js';

function counter(name: string, help: string, labelNames: string[]): Counter {
  const existing = register.getSingleMetric(name);
  if (existing instanceof Counter) return existing;
  return new Counter({ name, help, labelNames });
}

const attempts = counter(
  'assay_webhook_delivery_attempts_total',
  'Webhook delivery tries, by outcome (delivered, retry, gone, rejected, refused, failed).',
  ['outcome'],
);
const deadLetters = counter(
  'assay_webhook_dead_letters_total',
  'Webhook events given up on (retries exhausted, rejected, refused or failed before sending).',
  ['event'],
);

export const notificationMetrics = {
  attempt(outcome: AttemptOutcome): void {
    attempts.inc({ outcome });
  },
  deadLetter(event: string, count = 1): void {
    if (count > 0) deadLetters.inc({ event }, count);
  },
};
