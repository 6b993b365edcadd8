import * as path from 'node:path';
import { readJson, writeFileAtomic } from './fsUtil';

export type SeqMap = Record<string, number>; // `${diskId}/${generation}` -> seq

interface SpoolStateFile {
  acked: SeqMap;
  checkpoint: SeqMap;
  /** Absent in files written before end-to-end confirmation. */
  confirmed?: SeqMap;
}

/**
 * How far each disk generation of a spool is acknowledged by Event Hubs, covered by a
 * change-source checkpoint and confirmed stored in Azure by the control plane (or given up by
 * the spool's retention bound): `state.json` in the spool directory, replaced atomically.
 */
export class SpoolState {
  private saving: Promise<void> = Promise.resolve();

  private constructor(
    private readonly file: string,
    private readonly s: SpoolStateFile,
  ) {}

  static async load(dir: string): Promise<SpoolState> {
    const file = path.join(dir, 'state.json');
    return new SpoolState(
      file,
      (await readJson<SpoolStateFile>(file)) ?? {
        acked: {},
        checkpoint: {},
      },
    );
  }

  /** Highest acknowledged seq of a disk+generation key (0 = none). */
  acked(key: string): number {
    return this.s.acked[key] ?? 0;
  }

  /** Highest seq a source checkpoint covered (0 = never checkpointed). */
  checkpoint(key: string): number {
    return this.s.checkpoint[key] ?? 0;
  }

  /** Highest seq the control plane confirmed stored (or the spool stopped keeping; 0 = none). */
  confirmed(key: string): number {
    return this.s.confirmed?.[key] ?? 0;
  }

  /** Every seq the state names. */
  seqs(): [string, number][] {
    return [
      ...Object.entries(this.s.acked),
      ...Object.entries(this.s.checkpoint),
      ...Object.entries(this.s.confirmed ?? {}),
    ];
  }

  raiseAcked(key: string, seq: number): void {
    if (seq > this.acked(key)) this.s.acked[key] = seq;
  }

  raiseCheckpoint(key: string, seq: number): void {
    if (seq > this.checkpoint(key)) this.s.checkpoint[key] = seq;
  }

  /** True when it raised the mark. */
  raiseConfirmed(key: string, seq: number): boolean {
    if (seq <= this.confirmed(key)) return false;
    (this.s.confirmed ??= {})[key] = seq;
    return true;
  }

  /** Every mark at least `seq` (a disk generation given up). */
  raiseAll(key: string, seq: number): void {
    this.s.acked[key] = Math.max(this.acked(key), seq);
    this.s.checkpoint[key] = Math.max(this.checkpoint(key), seq);
    this.raiseConfirmed(key, seq);
  }

  /** Serialized: each write snapshots the state when it runs, so the newest state lands last. */
  save(): Promise<void> {
    const run = this.saving.then(() => writeFileAtomic(this.file, JSON.stringify(this.s)));
    this.saving = run.catch(() => undefined);
    return run;
  }
}
