import { describe, expect, it } from '@jest/globals';
import { loadWorkerConfig, WorkerConfigError } from '../../../src/workers/config.js';

function load(yaml: string) {
  return loadWorkerConfig(
    { ASSAY_WORKER_CONFIG: '/config.yaml' },
    () => `clusters: [{ name: local }]\n${yaml}`,
  );
}
function issues(yaml: string): string[] {
  try {
    load(yaml);
  } catch (err) {
    if (err instanceof WorkerConfigError) return [...err.issues];
    throw err;
  }
  throw new Error('expected the config to be refused');
}

describe('quotas in the worker config', () => {
  it('parses limits into millicores and bytes, users included', () => {
    const config = load(`
quotas:
  default: { maxRunning: 2 }
  teams:
    research:
      maxRunning: 5
      cpu: 8
      memory: 32Gi
      gpu: { a100: 2 }
      users:
        default: { maxRunning: 2 }
        ada: { cpu: 4000m }
`);
    expect(config.quotas.teams.research).toEqual({
      maxRunning: 5,
      cpu: 8000,
      memory: 32 * 2 ** 30,
      gpu: { a100: 2 },
      users: { default: { maxRunning: 2 }, ada: { cpu: 4000 } },
    });
    expect(config.quotas.default).toEqual({ maxRunning: 2, users: {} });
    expect(config.quotas.agingSeconds).toBe(600);
  });

  it('is empty (no team limited) when absent', () => {
    expect(load('').quotas.teams).toEqual({});
    expect(load('').quotas.default).toBeUndefined();
  });

  it('names the field of an unknown team key', () => {
    expect(issues('quotas: { teams: { research: { maxRuning: 5 } } }')).toEqual([
      expect.stringMatching(/^quotas\.teams\.research: Unrecognized key: "maxRuning"/),
    ]);
  });

  it('refuses negative and non-quantity limits, naming the field', () => {
    expect(issues('quotas: { teams: { research: { cpu: "-1" } } }')).toEqual([
      expect.stringMatching(/^quotas\.teams\.research\.cpu: .*negative/),
    ]);
    expect(issues('quotas: { teams: { research: { memory: lots } } }')).toEqual([
      expect.stringMatching(/^quotas\.teams\.research\.memory: "lots" is not a Kubernetes quantity/),
    ]);
    expect(issues('quotas: { teams: { research: { maxRunning: -1 } } }')).toEqual([
      expect.stringMatching(/^quotas\.teams\.research\.maxRunning: must not be negative/),
    ]);
  });

  it("refuses a user cap above the team's", () => {
    expect(issues('quotas: { teams: { research: { cpu: 4, users: { ada: { cpu: 8 } } } } }')).toEqual([
      "quotas.teams.research.users.ada.cpu: user cap 8 is above the team's 4",
    ]);
  });
});
