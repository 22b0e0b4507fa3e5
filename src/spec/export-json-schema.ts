/**
 * Prints the EvaluationJob OpenAPI schema. Regenerate the committed copy with
 * `npm run --silent schema > deploy/crd/evaluationjob.schema.json` (a unit test fails while it is stale).
 */
import { evaluationJobOpenApiSchemaText } from './json-schema.js';

function main(): void {
  process.stdout.write(evaluationJobOpenApiSchemaText());
}

try {
  main();
} catch (err: unknown) {
  process.stderr.write(`export-json-schema: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
