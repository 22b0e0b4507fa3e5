/**
 * Prints the EvaluationBatch JSON Schema (OpenAPI 3.0 dialect). Regenerate the committed copy with
 * `npx tsx src/spec/export-batch-json-schema.ts > deploy/crd/evaluationbatch.schema.json` (then `npx prettier --write` it). The template's `spec` is
 * an EvaluationJob spec (deploy/crd/evaluationjob.schema.json), validated per entry after substitution.
 */
import { z } from 'zod';
import { evaluationBatchSchema } from './evaluation-batch-schema.js';

try {
  const schema = z.toJSONSchema(evaluationBatchSchema, {
    io: 'input',
    target: 'openapi-3.0',
    unrepresentable: 'any',
  });
  process.stdout.write(`${JSON.stringify(schema, null, 2)}\n`);
} catch (err: unknown) {
  process.stderr.write(`export-batch-json-schema: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
