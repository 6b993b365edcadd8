import { SingleBar, Presets } from 'cli-progress';

/** Progress for long commands: a bar with rate and ETA on a TTY, plain lines otherwise, nothing with --json. */
export interface Progress {
  start(total: number, label: string): void;
  update(done: number): void;
  stop(): void;
}

export function makeProgress(
  mode: { json: boolean; tty: boolean },
  out: NodeJS.WritableStream = process.stderr,
): Progress {
  if (mode.json) return { start() {}, update() {}, stop() {} };
  if (mode.tty) {
    const bar = new SingleBar(
      {
        format:
          '{label} [{bar}] {percentage}% | {doneMiB}/{totalMiB} MiB | {rate} MiB/s | ETA {eta_formatted}',
        stream: out,
        hideCursor: true,
      },
      Presets.shades_classic,
    );
    let t0 = Date.now();
    let label = '';
    return {
      start(total, l) {
        t0 = Date.now();
        label = l;
        bar.start(total, 0, {
          label,
          doneMiB: 0,
          totalMiB: (total / 2 ** 20).toFixed(0),
          rate: '0',
        });
      },
      update(done) {
        const s = (Date.now() - t0) / 1000;
        bar.update(done, {
          label,
          doneMiB: (done / 2 ** 20).toFixed(0),
          rate: s > 0 ? (done / 2 ** 20 / s).toFixed(1) : '0',
        });
      },
      stop() {
        bar.stop();
      },
    };
  }
  let total = 0;
  let last = 0;
  let t0 = Date.now();
  let label = '';
  return {
    start(t, l) {
      total = t;
      label = l;
      t0 = Date.now();
      out.write(`${label}: 0/${(t / 2 ** 20).toFixed(0)} MiB\n`);
    },
    update(done) {
      if (Date.now() - last < 2000) return;
      last = Date.now();
      const s = (Date.now() - t0) / 1000;
      const rate = s > 0 ? done / s : 0;
      const eta = rate > 0 ? Math.round((total - done) / rate) : 0;
      out.write(
        `${label}: ${(done / 2 ** 20).toFixed(0)}/${(total / 2 ** 20).toFixed(0)} MiB, ${(rate / 2 ** 20).toFixed(1)} MiB/s, ETA ${eta} s\n`,
      );
    },
    stop() {
      out.write(`${label}: done in ${((Date.now() - t0) / 1000).toFixed(1)} s\n`);
    },
  };
}
