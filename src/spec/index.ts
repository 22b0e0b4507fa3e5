/**
 * The public contract of Assay: the EvaluationJob manifest, its parsing and JSON Schema, Kubernetes quantities,
 * and the search attributes. Dependency-free apart from zod, so workflows, the CLI, the client and the CRD bridge
 * all share it.
 *
 * @packageDocumentation
 */
export * from './evaluation-job.js';
export * from './evaluation-job-schema.js';
export * from './issues.js';
export * from './json-schema.js';
export * from './kubernetes-rules.js';
export * from './quantity.js';
export * from './search-attributes.js';
export * from './spec-constants.js';
