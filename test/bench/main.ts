import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { rerunKeepingMemory } from '../../local/stack/keptMemory';
import type { BenchModule, BenchRow } from './row';

/**
 * `npm run bench`: runs every benchmark module and prints one table. Every Haven figure sits
 * next to a baseline measured in the same run on the same machine, so the ratio means something
 * even though absolute numbers move with the hardware. `--quick` uses small inputs.
 */
const MODULES = [
  'replication',
  'agent',
  'hydrate',
  'eventHubs',
  'splitter',
  'rpo',
  'durable',
  'recovery',
  'vmBoot',
  'rto',
  'failback',
  'plans',
  'arm',
];

function format(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  if (Math.abs(n) >= 100) return n.toFixed(0);
  if (Math.abs(n) >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

export function renderTable(rows: BenchRow[]): string {
  const header = ['benchmark', 'haven', 'baseline', 'baseline value', 'ratio', 'note'];
  const body = rows.map((r) => [
    r.name,
    `${format(r.value)} ${r.unit}`,
    r.baselineName,
    `${format(r.baselineValue)} ${r.unit}`,
    `${format(r.ratio)}×`,
    r.note ?? '',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [
    line(header),
    `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`,
    ...body.map(line),
  ].join('\n');
}

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const only = process.argv
    .find((a) => a.startsWith('--only='))
    ?.slice('--only='.length)
    .split(',');
  const rows: BenchRow[] = [];
  for (const name of MODULES) {
    if (only && !only.includes(name)) continue;
    const file = join(__dirname, `${name}.js`);
    if (!existsSync(file)) {
      console.error(`bench: ${name}: not built yet, skipped`);
      continue;
    }
    console.error(`bench: ${name}…`);
    try {
      const mod = (await import(file)) as BenchModule;
      rows.push(...(await mod.run({ quick })));
    } catch (e) {
      console.error(`bench: ${name} failed: ${(e as Error).message}`);
      process.exitCode = 1;
    }
  }
  console.log(renderTable(rows));
}

if (require.main === module) {
  // The stack, the agent and the baselines all run under the same malloc settings.
  rerunKeepingMemory();
  void main();
}
