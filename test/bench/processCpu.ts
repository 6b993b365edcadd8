import { readdirSync, readFileSync } from 'node:fs';

/**
 * CPU seconds of process trees, from /proc (Linux): what each part of a bench's pipeline
 * burned between two samples, so a figure that misses its target can show whether the machine
 * itself was the limit (the cores busy) and which process took them.
 */
const TICKS = 100; // USER_HZ on Linux

interface Proc {
  pid: number;
  ppid: number;
  seconds: number;
  /** Of which in the kernel (stime): file and socket I/O, page faults. */
  kernel: number;
  cmd: string;
}

function readProcs(): Proc[] {
  const out: Proc[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // Fields after the command (which may hold spaces) start after the last ')'.
      const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const ppid = Number(rest[1]);
      const seconds = (Number(rest[11]) + Number(rest[12])) / TICKS; // utime + stime
      const kernel = Number(rest[12]) / TICKS;
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ');
      out.push({ pid: Number(name), ppid, seconds, kernel, cmd });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** A part of the pipeline: a root process (and its descendants), or processes matched by command. */
export interface CpuPart {
  label: string;
  pid?: number;
  match?: RegExp;
}

/** CPU seconds per part, and of those the seconds in the kernel (`<label> kernel`). */
export type CpuSample = Map<string, number>;
const KERNEL = ' kernel';

/**
 * CPU seconds so far per part. A process belongs to the first part whose `match` its command
 * matches, else to the part rooted at its nearest ancestor listed by pid. Processes that exited
 * between samples are not counted (the parts measured here live for the whole bench).
 */
export function sampleCpu(parts: readonly CpuPart[]): CpuSample {
  const procs = readProcs();
  const byPid = new Map(procs.map((p) => [p.pid, p]));
  const out: CpuSample = new Map(parts.map((p) => [p.label, 0]));
  for (const p of procs) {
    let part = parts.find((x) => x.match?.test(p.cmd));
    for (let q: Proc | undefined = p; !part && q; q = byPid.get(q.ppid)) {
      part = parts.find((x) => x.pid === q!.pid);
      if (q.ppid === q.pid) break;
    }
    if (part) {
      out.set(part.label, out.get(part.label)! + p.seconds);
      out.set(part.label + KERNEL, (out.get(part.label + KERNEL) ?? 0) + p.kernel);
    }
  }
  // The rest of the machine (other processes, the kernel's own threads): busy time of all
  // cores from /proc/stat minus the parts.
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1);
  const [user, nice, system, , , irq, softirq, steal] = cpu.map(Number) as number[];
  const busy = (user! + nice! + system! + irq! + softirq! + steal!) / TICKS;
  const mine = parts.reduce((n, x) => n + out.get(x.label)!, 0);
  out.set('rest of the machine', busy - mine);
  return out;
}

/**
 * "agent 0.62 (kernel 0.20), Azurite 0.48 (kernel 0.05), … = 1.71 of 2 cores" over
 * `wallSeconds` between two samples.
 */
export function coresBusy(a: CpuSample, b: CpuSample, wallSeconds: number, cores: number): string {
  let total = 0;
  const per = (label: string) => ((b.get(label) ?? 0) - (a.get(label) ?? 0)) / wallSeconds;
  const parts = [...b.keys()]
    .filter((label) => !label.endsWith(KERNEL))
    .map((label) => {
      const c = per(label);
      total += c;
      const k = b.has(label + KERNEL) ? ` (kernel ${per(label + KERNEL).toFixed(2)})` : '';
      return `${label} ${c.toFixed(2)}${k}`;
    });
  return `${parts.join(', ')} = ${total.toFixed(2)} of ${cores} cores busy`;
}
