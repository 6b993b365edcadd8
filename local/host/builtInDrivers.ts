import { blobDriver } from './blobTrigger';
import type { HostJson } from './hostJson';
import type { TriggerDriver } from './plugin';
import { queueDriver } from './queueTrigger';
import { timerDriver } from './timerTrigger';

export interface BuiltInDriverOptions {
  hostJson: HostJson;
  /** Blob container scan period; a nudge scans at once. */
  blobPollIntervalMs?: number;
  /** Longest wait between queue polls when queues are empty. */
  queueMaxPollIntervalMs?: number;
}

/** Timer, storage queue and blob drivers the host always has (others come in through options). */
export function builtInDrivers(opts: BuiltInDriverOptions): TriggerDriver[] {
  return [
    timerDriver(),
    queueDriver({ hostJson: opts.hostJson, maxPollIntervalMs: opts.queueMaxPollIntervalMs }),
    blobDriver({ hostJson: opts.hostJson, pollIntervalMs: opts.blobPollIntervalMs }),
  ];
}
