// Where the time of one `run --once` goes (not a test: no timing asserts anywhere).
//   node --import tsx test/e2e/support/measureRunOnce.ts [sizeMiB=256]
// Stack and agent run as processes from source; timestamps come from the agent's --json log,
// the host log, the point document and the child's exit.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { changeFiles, makeImage } from './images';
import { agentStarted } from './kill';
import { protectedMachine, startRunOnce, type Machine } from './machine';
import { startStack, type StackProc } from '../../support/localStack';

const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

async function measure(stack: StackProc, m: Machine, label: string): Promise<void> {
  const logFile = path.join(stack.stateDir, 'logs', 'host.log');
  const hostBefore = readFileSync(logFile, 'utf8').length;
  const t0 = Date.now();
  const run = startRunOnce(m);
  await agentStarted(m.stateDir, run);
  const tLock = Date.now();
  const r = await run.done;
  const tExit = Date.now();
  if (r.code !== 0) throw new Error(r.stderr);
  const point = JSON.parse(r.stdout.trim().split('\n').pop()!).recoveryPoint;
  const agentLog = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { at: string; msg: string });
  const at = (msg: string) => Date.parse(agentLog.find((l) => l.msg === msg)?.at ?? '');
  const host = readFileSync(logFile, 'utf8')
    .slice(hostBefore)
    .split('\n')
    .filter((l) => / info (ingest:|hydrate )/.test(l))
    .map((l) => ({
      t: Date.parse(l.slice(0, 24)),
      line: l.slice(25).replace(/ \{"functionName.*/, ''),
    }));
  const ingests = host.filter((h) => h.line.includes('ingest:'));
  const hydrates = host.filter((h) => h.line.includes('hydrate '));
  const hydrated = hydrates.filter((h) => h.line.includes(point.id)).pop()?.t ?? NaN;
  const rows: [string, number][] = [
    ['node + tsx start-up, open state (spawn → pid lock)', tLock - t0],
    ['scan + batch + spool until the bookmark is spooled', at('bookmark spooled') - tLock],
    [
      'send drain after the bookmark (EH ack of the rest)',
      at('bookmark sent') - at('bookmark spooled'),
    ],
    ['first ingest logged after lock (sending overlaps scan)', (ingests[0]?.t ?? NaN) - tLock],
    ['last ingest logged after bookmark sent', (ingests.at(-1)?.t ?? NaN) - at('bookmark sent')],
    [
      'hydrate (apply, point published) done after last ingest',
      hydrated - (ingests.at(-1)?.t ?? NaN),
    ],
    ['agent sees the point (poll backoff) + exit', tExit - hydrated],
    ['TOTAL spawn → exit', tExit - t0],
  ];
  console.log(
    `\n${label}: point ${point.id}; ${ingests.length} ingest invocations, ${hydrates.length} hydrate invocations`,
  );
  for (const [k, v] of rows) console.log(`  ${k.padEnd(58)} ${sec(v)}`);
  for (const h of [...ingests, ...hydrates].sort((a, b) => a.t - b.t))
    console.log(
      `    +${sec(h.t - t0)} ${h.line.replace(/m-\w+\/disk-img-\w+\/1\//, '').slice(0, 110)}`,
    );
}

async function main(): Promise<void> {
  const sizeMiB = Number(process.argv[2] ?? 256);
  const dir = mkdtempSync(path.join(tmpdir(), 'haven-e2e-measure-'));
  const stack = await startStack(path.join(dir, 'stack'));
  try {
    const image = path.join(dir, 'disk.img');
    makeImage(image, sizeMiB);
    const m = await protectedMachine(stack, dir, image);
    await measure(stack, m, `initial sync, ${sizeMiB} MiB mixed ext4 (fill 0.4)`);
    changeFiles(m.image, 'delta', 5, 1024);
    await measure(stack, m, 'delta (5 files, ≤ 1 MiB each)');
    await measure(stack, m, 'no change');
  } finally {
    await stack.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}
void main();
