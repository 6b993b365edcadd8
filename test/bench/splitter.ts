import { closeSync, mkdtempSync, openSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { MachineJournal } from '../../edge-agent/journal/journal';
import { WriteSplitter } from '../../edge-agent/nbd/writeSplitter';
import { JournalChangeSource } from '../../edge-agent/nbd/journalChangeSource';
import type { BenchRow } from './row';
import { fio, type Job } from './fioJob';
import { PlainDevice, residentImage, withQemuNbd, withServer } from './nbdTargets';
import { buildSplitBound, withSplitBound } from './nativeBound';
import { LeanBoundDevice } from './leanBound';
import { consumeSource } from '../support/consumeSource';

/**
 * Write splitter throughput. The same fio job (same seed, so the same offsets and bytes) is run
 * against: the splitter's NBD export (journal + image), the raw image file directly, qemu-nbd
 * serving the same image (a C NBD server, no journal), the splitter's per-byte work in C
 * (nativeBound.ts: what a native data path could reach) and our NBD server with the journal
 * switched off. The first baseline is the brief's (≤ 1.5× overhead); the others split the cost
 * between "NBD in userspace", "journaling" and "the language".
 */
/** `HAVEN_BENCH_SPLITTER_JOBS=seq1m,…` / `_TARGETS=split,qemu,…`: a subset, for A/B runs. */
function selected(env: string | undefined, name: string): boolean {
  return !env || env.split(',').includes(name);
}

const load = () => loadavg()[0]!.toFixed(1);

function median(xs: number[]): number {
  if (!xs.length) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export async function run({ quick }: { quick: boolean }): Promise<BenchRow[]> {
  const dir = mkdtempSync(join(tmpdir(), 'haven-bench-splitter-'));
  const diskSize = quick ? 256 * 1024 * 1024 : 2 * 1024 * 1024 * 1024;
  const tries = Number(process.env.HAVEN_BENCH_SPLITTER_TRIES) || 3;
  const want = (t: string) => selected(process.env.HAVEN_BENCH_SPLITTER_TARGETS, t);
  const wantInline = !!process.env.HAVEN_BENCH_SPLITTER_TARGETS?.split(',').includes('inline');
  const rows: BenchRow[] = [];
  let plugin: string | undefined;
  const MiB = 1024 * 1024;
  const jobs: Job[] = [
    {
      name: 'rand4k',
      label: 'random 4 KiB writes',
      rw: 'randwrite',
      bs: '4k',
      size: (quick ? 64 : 256) * MiB,
      iodepth: 16,
    },
    {
      name: 'seq1m',
      label: 'sequential 1 MiB writes',
      rw: 'write',
      bs: '1m',
      size: (quick ? 256 : 1024) * MiB,
      iodepth: 4,
      bound: true,
    },
    {
      name: 'rand4kfsync',
      label: 'random 4 KiB writes, fsync every 64',
      rw: 'randwrite',
      bs: '4k',
      size: (quick ? 16 : 64) * MiB,
      iodepth: 16,
      fsync: 64,
    },
  ];
  try {
    for (const job of jobs) {
      if (!selected(process.env.HAVEN_BENCH_SPLITTER_JOBS, job.name)) continue;
      const loadBefore = load();
      const image = join(dir, 'disk.img');
      const sock = join(dir, 'nbd.sock');
      const runDirect = async () => {
        residentImage(image, diskSize);
        return fio(job, { file: image });
      };
      const runQemu = async () => {
        residentImage(image, diskSize);
        return withQemuNbd(image, sock, (uri) => fio(job, { uri }));
      };
      // qemu-nbd while the same bytes go to a second file: what a server that writes every byte
      // twice (the image and a journal) could reach here, with the copy in the page cache (as the
      // journal's is) or written O_DIRECT.
      const copyFile = join(dir, 'copy.img');
      const runTwice = async (direct: boolean) => {
        residentImage(image, diskSize);
        residentImage(copyFile, diskSize);
        return withQemuNbd(image, sock, (uri) => fio(job, { uri }, { file: copyFile, direct }));
      };
      // The same per-byte work in C (nativeBound.ts): what a native data path could reach.
      const runNative = async () => {
        residentImage(image, diskSize);
        plugin ??= await buildSplitBound(dir);
        const journalDir = join(dir, 'bound');
        try {
          return await withSplitBound(plugin, image, journalDir, sock, (uri) => fio(job, { uri }));
        } finally {
          rmSync(journalDir, { recursive: true, force: true });
        }
      };
      const runPlain = async () => {
        residentImage(image, diskSize);
        const fd = openSync(image, 'r+');
        try {
          return await withServer(new PlainDevice(fd, diskSize), sock, (uri) => fio(job, { uri }));
        } finally {
          closeSync(fd);
        }
      };
      // The same per-byte work in JavaScript without the splitter's bookkeeping (leanBound.ts).
      const runLean = async () => {
        residentImage(image, diskSize);
        const fd = openSync(image, 'r+');
        const lean = LeanBoundDevice.open(fd, diskSize, dir);
        try {
          return lean ? await withServer(lean, sock, (uri) => fio(job, { uri })) : 0;
        } finally {
          lean?.close();
          closeSync(fd);
        }
      };
      let journalBytes = 0;
      let syncs = 0;
      let flushes = 0;
      let consumed = 0;
      // Per run: CPU seconds of this process (all its threads: the server's and the drain's)
      // and how busy the server's event loop was.
      const serverUse = { split: [] as string[], inline: [] as string[] };
      const runSplit = async (drainThread = true) => {
        residentImage(image, diskSize);
        consumed = 0;
        rmSync(join(dir, 'journal'), { recursive: true, force: true });
        const journal = MachineJournal.open({
          dir: join(dir, 'journal'),
          capacityBytes: 64 * 1024 * MiB,
        });
        const splitter = WriteSplitter.open(journal, 'd', image);
        // The agent's side runs too: the coalescing change source drains the journal and
        // checkpoints (releasing segments, which are then recycled), and each extent's memory
        // is handed back once taken (the batcher does so once it sealed it), as in production;
        // only batch encoding and sending are left out.
        const source = new JournalChangeSource(journal, { windowMs: 50, drainThread });
        const ac = new AbortController();
        const consumer = consumeSource(source, ac.signal, (r) => (consumed += r.length));
        try {
          // A served disk's source lives as long as the agent: its thread's start is not part
          // of serving (it costs ~80 ms of CPU, a fifth of a quick fsync run).
          await source.ready();
          const cpu0 = process.cpuUsage();
          const elu0 = performance.eventLoopUtilization();
          const rate = await withServer(splitter, sock, (uri) => fio(job, { uri }));
          const cpu = process.cpuUsage(cpu0);
          const elu = performance.eventLoopUtilization(elu0);
          (drainThread ? serverUse.split : serverUse.inline).push(
            `${((cpu.user + cpu.system) / 1e6).toFixed(1)} s/${(elu.utilization * 100).toFixed(0)}%`,
          );
          return rate;
        } finally {
          ac.abort();
          await consumer;
          await source.close();
          journalBytes = journal.retainedBytes();
          syncs = journal.syncCount;
          flushes = splitter.stats.flushes;
          await journal.close();
          await splitter.close();
          rmSync(join(dir, 'journal'), { recursive: true, force: true });
        }
      };
      // The targets take turns within each try, so a change of the shared machine's load hits
      // them alike; the figures are medians over the tries and each try's ratio is printed.
      const runs = {
        direct: [] as number[],
        qemu: [] as number[],
        native: [] as number[],
        twice: [] as number[],
        twiceDirect: [] as number[],
        plain: [] as number[],
        lean: [] as number[],
        split: [] as number[],
        inline: [] as number[],
      };
      const loads: string[] = [];
      const order = ['direct', 'qemu', 'native', 'plain', 'split', 'inline'] as Array<
        keyof typeof runs
      >;
      if (job.bound) order.splice(2, 0, 'twice', 'twiceDirect', 'lean');
      const runners = {
        direct: runDirect,
        qemu: runQemu,
        native: runNative,
        twice: () => runTwice(false),
        twiceDirect: () => runTwice(true),
        plain: runPlain,
        lean: runLean,
        split: () => runSplit(),
        inline: () => runSplit(false),
      };
      for (let i = 0; i < tries; i++) {
        loads.push(load());
        for (const t of order) {
          // `inline` (the drain on the server's event loop, as before it had a thread): on request.
          if (t === 'inline' ? wantInline : want(t)) runs[t].push(await runners[t]());
        }
      }
      const direct = median(runs.direct);
      const qemu = median(runs.qemu);
      const plain = median(runs.plain);
      const native = median(runs.native);
      const split = median(runs.split);
      const each = (base: number[], xs = runs.split) =>
        xs.map((v, i) => (base[i] ? (v / base[i]!).toFixed(2) : '-')).join(', ');

      const label = job.label;
      const common = `fio ${job.rw} bs=${job.bs} iodepth=${job.iodepth} ${(job.size / MiB).toFixed(0)} MiB${job.fsync ? ` fsync=${job.fsync}` : ''}, end_fsync, median of ${tries} (seed 42); journal left ${(journalBytes / MiB).toFixed(0)} MiB, ${syncs} journal syncs for ${flushes} FLUSH; load ${loadBefore} → ${load()} (each try: ${loads.join(', ')}); source consumed ${(consumed / MiB).toFixed(0)} MiB (coalesced); server CPU/event loop busy per run: ${serverUse.split.join(', ')}${serverUse.inline.length ? `; drain inline: ${serverUse.inline.join(', ')}` : ''}`;
      const firstRow = rows.length;
      /** A row of the splitter (or `value`, under `name`) against one baseline, when it ran. */
      const vs = (baselineName: string, base: number, note: string, value = split, name = '') => {
        if (!base || !value) return;
        rows.push({
          name: `splitter ${label}${name}`,
          value,
          unit: 'MB/s',
          baselineName,
          baselineValue: base,
          ratio: value / base,
          note,
        });
      };
      const overhead = (base: number) => (base / split).toFixed(2);
      vs(
        'fio straight to the image file',
        direct,
        `rate, higher is better; overhead ${overhead(direct)}× (target ≤ 1.5×), each try ${each(runs.direct)}`,
      );
      const qemuName = 'qemu-nbd (C, no journal), same fio nbd job';
      vs(
        qemuName,
        qemu,
        `rate; overhead ${overhead(qemu)}× vs a userspace NBD server without splitting; each try ${each(runs.qemu)}`,
      );
      const ofQemu = (v: number) =>
        qemu ? `${(v / qemu).toFixed(2)}× qemu-nbd` : 'no qemu-nbd run';
      vs(
        'the same per-byte work in C (nbdkit plugin: hash, image, journal)',
        native,
        `rate; a bound for a native data path (no LSNs, recovery or drain): ${ofQemu(native)}; each try ${each(runs.native)}`,
      );
      const lean = median(runs.lean);
      vs(
        'the same per-byte work in JavaScript (hash, O_DIRECT journal, image; no bookkeeping)',
        lean,
        `rate; a bound for this server's design (no LSNs, records, intent log or drain): ${ofQemu(lean)}; each try ${each(runs.lean)}`,
      );
      vs(
        'same NBD server, journal off',
        plain,
        `rate; the journaling cost alone: ${overhead(plain)}×; each try ${each(runs.plain)}`,
      );
      for (const [t, how] of [
        ['twice', 'in the page cache'],
        ['twiceDirect', 'O_DIRECT'],
      ] as const) {
        const v = median(runs[t]);
        vs(
          `qemu-nbd while fio writes the same bytes to a second file, ${how}`,
          v,
          `rate; a bound for a server that writes each byte twice (${qemu ? `${ofQemu(v)} alone` : 'no qemu-nbd run'}); each try ${each(runs[t])}`,
        );
      }
      vs(
        qemuName,
        qemu,
        `rate; each try ${each(runs.qemu, runs.inline)}`,
        median(runs.inline),
        ", change source drained on the server's event loop",
      );
      // The run's conditions go with its first row.
      const first = rows[firstRow];
      if (first) first.note = `${first.note}; ${common}`;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return rows;
}

if (require.main === module) {
  void run({ quick: process.argv.includes('--quick') }).then((rows) =>
    rows.forEach((r) =>
      console.log(
        `${r.name} | ${r.value.toFixed(1)} vs ${r.baselineName} ${r.baselineValue.toFixed(1)} ${r.unit} = ${r.ratio.toFixed(2)}× | ${r.note ?? ''}`,
      ),
    ),
  );
}
