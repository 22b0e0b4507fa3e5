/**
 * Team defaults (docs/kubernetes.md, "Team defaults"): what the mutating webhook fills into an EvaluationJob of a
 * team when the manifest leaves it out — `spec.priority`, `spec.timeoutSeconds`, and labels for cost attribution
 * (`metadata.labels`, e.g. `cost-center`, which reach the pod as `assay.dev/cost-center` and `assay report cost --by
 * label:cost-center`). The `teamDefaults:` section of the admission config:
 *
 * ```yaml
 * teamDefaults:
 *   default: { priority: normal, labels: { cost-center: shared } }   # every team
 *   teams:
 *     ml-research: { priority: high, timeoutSeconds: 7200, labels: { cost-center: cc-1234 } }
 * ```
 *
 * A team's entry overrides `default` field by field (its labels are merged over the default's). A value the manifest
 * sets is never replaced; without a default, zod's default applies (`normal`, 3600 s).
 *
 * @packageDocumentation
 */
import { z } from 'zod';
import { checkLabelValue } from '../spec/kubernetes-rules.js';
import { priorities, specLimits, type Priority } from '../spec/spec-constants.js';
import { integer, stringMap } from '../spec/zod-helpers.js';

const teamDefaultsEntrySchema = z.strictObject({
  priority: z.enum(priorities).optional().describe('spec.priority when the manifest has none.'),
  timeoutSeconds: integer(specLimits.minTimeoutSeconds, specLimits.maxTimeoutSeconds)
    .optional()
    .describe('spec.timeoutSeconds when the manifest has none.'),
  labels: stringMap({ what: 'label', maxEntries: specLimits.labels, checkValue: checkLabelValue })
    .optional()
    .describe('Labels added to metadata.labels where the manifest does not set them (e.g. cost-center).'),
});
export type TeamDefaultsEntry = z.output<typeof teamDefaultsEntrySchema>;

const teamName = z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label');

export const teamDefaultsSchema = z
  .strictObject({
    default: teamDefaultsEntrySchema.optional().describe('Defaults of every team.'),
    teams: z.record(teamName, teamDefaultsEntrySchema).default({}).describe('Defaults per team name.'),
  })
  .prefault({});
export type TeamDefaultsConfig = z.output<typeof teamDefaultsSchema>;

/** No team defaults: zod's defaults only. */
export const noTeamDefaults: TeamDefaultsConfig = { teams: {} };

/** What one team's resources get when they leave the field out. */
export interface TeamDefaults {
  readonly priority?: Priority;
  readonly timeoutSeconds?: number;
  readonly labels: Readonly<Record<string, string>>;
}

/** The defaults of `team`: its entry over `default`, field by field, labels merged. */
export function teamDefaultsOf(config: TeamDefaultsConfig, team: string): TeamDefaults {
  const base = config.default ?? {};
  const own = config.teams[team] ?? {};
  const priority = own.priority ?? base.priority;
  const timeoutSeconds = own.timeoutSeconds ?? base.timeoutSeconds;
  return {
    ...(priority !== undefined ? { priority } : {}),
    ...(timeoutSeconds !== undefined ? { timeoutSeconds } : {}),
    labels: { ...base.labels, ...own.labels },
  };
}
