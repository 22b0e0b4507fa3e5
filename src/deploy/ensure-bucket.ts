/**
 * `node /app/dist/ensure-bucket.js` in the worker image: creates the bucket `ASSAY_S3_*` names when it does not
 * exist (docker-compose.yml's one-shot `s3-init`), retrying while the server starts. Exit 0 when the bucket exists.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { createS3ObjectStore, loadS3Config } from '../storage/index.js';

const attempts = 30;

async function main(): Promise<void> {
  const store = createS3ObjectStore(loadS3Config());
  try {
    for (let attempt = 1; ; attempt++) {
      try {
        const created = await store.ensureBucket();
        process.stdout.write(`bucket ${store.bucket} ${created ? 'created' : 'exists'}\n`);
        return;
      } catch (err) {
        if (attempt >= attempts) throw err;
        await sleep(1000);
      }
    }
  } finally {
    store.close();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`ensure-bucket: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
