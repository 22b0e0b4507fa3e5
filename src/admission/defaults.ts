/**
 * Where `assay admission` listens and finds its certificate when nothing says otherwise: the local stack's address
 * and the certificate `npm run stack -- up` generates (`src/stack/kube/admission.ts`), so that starting
 * `assay admission` beside a worker is all a user of the local stack does.
 *
 * @packageDocumentation
 */
import { join } from 'node:path';
import { componentDir, stackPaths } from '../stack/paths.js';

/** The local stack's admission port (the API server runs on the host and calls https://127.0.0.1:<port>). */
export const ADMISSION_DEFAULT_PORT = 18443;
export const ADMISSION_DEFAULT_HOST = '127.0.0.1';

/** The webhook paths. */
export const admissionPaths = { validate: '/validate', mutate: '/mutate', convert: '/convert' } as const;

/** The local stack's admission TLS files under the cache root (`ASSAY_CACHE_DIR`, default `~/.cache/assay`). */
export function localStackAdmissionTls(cacheRoot?: string): {
  dir: string;
  caFile: string;
  certFile: string;
  keyFile: string;
} {
  const dir = join(componentDir(stackPaths(cacheRoot), 'admission'), 'pki');
  return {
    dir,
    caFile: join(dir, 'ca.crt'),
    certFile: join(dir, 'admission.crt'),
    keyFile: join(dir, 'admission.key'),
  };
}
