/**
 * `spec.user` from the request's authenticated user, when a manifest leaves it out: the user name Kubernetes
 * authenticated, made a valid `spec.user` (an RFC 1123 label).
 *
 * @packageDocumentation
 */
import { specLimits } from '../spec/spec-constants.js';

/**
 * The `spec.user` for an authenticated user name: an e-mail address gives its local part; then lower case, every run
 * of characters a label cannot hold becomes one `-`, and the result is cut to the length limit. `system:admin` →
 * `system-admin`, `Ada.Lovelace@example.com` → `ada-lovelace`, `system:serviceaccount:ci:runner` →
 * `system-serviceaccount-ci-runner`.
 *
 * @returns the label, or `undefined` when nothing usable is left (an empty or all-symbol name).
 */
export function userLabelFor(username: string | undefined): string | undefined {
  if (username === undefined) return undefined;
  const at = username.indexOf('@');
  const local = at > 0 ? username.slice(0, at) : username;
  const label = local
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+/, '')
    .slice(0, specLimits.userLength)
    .replace(/-+$/, '');
  return label === '' ? undefined : label;
}
