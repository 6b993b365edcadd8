import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { envelopeDigest } from '../core/batch';
import type { BatchSink, Outbound } from './batchSink';

/**
 * Offline sink: writes each envelope to `<dir>/<diskId>.<generation>.<seq>.<sha256>.hvb`
 * (what Event Hubs would have received). For air-gapped dry runs and the agent's tests.
 */
export class CaptureSink implements BatchSink {
  constructor(private readonly dir: string) {}
  async send(items: readonly Outbound[]): Promise<void> {
    await fsp.mkdir(this.dir, { recursive: true });
    for (const it of items) {
      const e = it.entry;
      const name = `${e.diskId}.${e.generation}.${e.seq}.${envelopeDigest(it.envelope)}.hvb`;
      const tmp = path.join(this.dir, `.${name}.${process.pid}.tmp`);
      await fsp.writeFile(tmp, it.envelope);
      await fsp.rename(tmp, path.join(this.dir, name));
    }
  }
  async close(): Promise<void> {}
}
