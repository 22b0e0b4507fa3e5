/**
 * `tsx test/support/save-history.ts <workflowId> <file>`: writes a workflow's history as JSON, for the replay tests.
 * A separate process because `historyToJSON` needs the protobuf types of the process that loaded them, which Jest's
 * module registry duplicates.
 */
import { writeFile } from 'node:fs/promises';
import { Client, Connection } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

async function main(): Promise<void> {
  const [workflowId, file] = process.argv.slice(2);
  if (workflowId === undefined || file === undefined)
    throw new Error('usage: save-history <workflowId> <file>');
  const connection = await Connection.connect({ address: process.env.TEMPORAL_ADDRESS ?? '127.0.0.1:7233' });
  try {
    const client = new Client({ connection, namespace: process.env.TEMPORAL_NAMESPACE ?? 'default' });
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    await writeFile(file, `${historyToJSON(history)}\n`);
  } finally {
    await connection.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`save-history: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
