export type AccessRight = 'Send' | 'Listen' | 'Manage';

export interface EventHubDefinition {
  name: string;
  partitions: number;
  /** `$Default` is always there. */
  consumerGroups?: string[];
  retentionHours?: number;
}

export interface SharedAccessKeyDefinition {
  name: string;
  key: string;
  /** Default: all rights. */
  rights?: AccessRight[];
}

export interface EventHubsEmulatorOptions {
  /** 0 = a free port. */
  port?: number;
  host?: string;
  dataDir: string;
  hubs: EventHubDefinition[];
  keys: SharedAccessKeyDefinition[];
  /** Log segment size (retention drops whole segments). Default 64 MiB. */
  segmentBytes?: number;
  /** How often retention runs (also at start). Default 60 s. */
  retentionCheckMs?: number;
  /** How often open links are checked against token expiry. Default 1 s. */
  tokenCheckMs?: number;
  log?: (msg: string) => void;
}

export interface RunningEventHubsEmulator {
  port: number;
  host: string;
  /** Namespace connection string for the SDK (add `;EntityPath=hub` or pass the hub name separately). */
  connectionString(keyName?: string): string;
  stop(): Promise<void>;
}

/** Event Hubs Standard's limit for one event or one batch, encoded. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
