/**
 * Prints the JSON Schema of the webhook payload. Regenerate the committed copy with
 * `npx tsx src/notifications/export-schema.ts > docs/notifications.schema.json` (a unit test fails while it is stale).
 */
import { webhookPayloadJsonSchema } from './payload.js';

try {
  process.stdout.write(`${JSON.stringify(webhookPayloadJsonSchema(), null, 2)}\n`);
} catch (err: unknown) {
  process.stderr.write(`export-schema: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
