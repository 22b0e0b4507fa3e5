/**
 * Summarises a V8 CPU profile (`node --cpu-prof`) by where its self time went: `(idle)`, `(garbage collector)`,
 * `(program)`, each npm package, each of Assay's own files, Node's internals. Prints the top entries with their share.
 *   npx tsx bench/profile-summary.ts <file.cpuprofile> [--top 15]
 */
import { readFile } from 'node:fs/promises';
import { Command } from 'commander';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

/** The bucket a frame's self time counts toward. */
export function bucketOf(frame: ProfileNode['callFrame']): string {
  const { functionName, url } = frame;
  if (url === '')
    return functionName.startsWith('(') ? functionName : `(native) ${functionName || 'anonymous'}`;
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url);
  if (pkg !== null) return pkg[1]!;
  if (url.startsWith('node:')) return `node:${url.slice(5).split('/')[0]}`;
  const own = /\/(src\/.+)$/.exec(url);
  return own !== null ? own[1]! : url;
}

async function main(): Promise<void> {
  const program = new Command()
    .argument('<profile>', 'a .cpuprofile written by node --cpu-prof')
    .option('--top <n>', 'entries to print', '15')
    .parse();
  const profile = JSON.parse(await readFile(program.args[0]!, 'utf8')) as Profile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, number>();
  // Each sample's time is the delta that follows it.
  profile.samples.forEach((id, i) => {
    const us = profile.timeDeltas[i + 1] ?? 0;
    const bucket = bucketOf(byId.get(id)!.callFrame);
    self.set(bucket, (self.get(bucket) ?? 0) + us);
  });
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const busy = total - (self.get('(idle)') ?? 0);
  console.log(
    `${program.args[0]}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(1)} s busy (not idle)`,
  );
  const top = Number(program.opts<{ top: string }>().top);
  for (const [bucket, us] of [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, top)) {
    const share = bucket === '(idle)' ? '' : ` ${((us / busy) * 100).toFixed(1)}% of busy`;
    console.log(`  ${(us / 1e6).toFixed(2).padStart(7)} s${share.padEnd(16)} ${bucket}`);
  }
}

await main();
