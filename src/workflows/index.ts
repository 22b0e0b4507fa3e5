/** Every workflow Assay's workers serve; the worker bundles this module. */
export { evaluation } from './evaluation.js';
export { retentionSweep } from './retention.js';
export { janitor } from './janitor.js';
export { teamQuota } from './quota.js';
export { webhookDelivery } from './notifications.js';
export { batch } from './batch.js';
export { scheduledRun } from './scheduled-run.js';
export { clusterMonitor } from './cluster-monitor.js';
