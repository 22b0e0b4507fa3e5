/**
 * Prints the EvaluationJob CRD. Regenerate the committed copy with
 * `npm run --silent crd > deploy/crd/evaluationjobs.assay.dev.yaml && npx prettier --write deploy/crd/evaluationjobs.assay.dev.yaml` (a unit test fails while it is stale).
 */
import { evaluationJobCrdYaml } from './crd.js';

try {
  process.stdout.write(evaluationJobCrdYaml());
} catch (err: unknown) {
  process.stderr.write(`export-crd: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
