export interface BackendOptions {
  connectionString: string;
  hubName: string;
  maxConcurrentOrchestrations: number;
  maxConcurrentActivities: number;
  activityTimeoutMs: number;
  /** Messages consumed per episode (bounded so the committing transaction stays ≤ 100 actions). */
  maxMessagesPerEpisode?: number;
}

/** What the backend needs from the Functions host: the registered functions and a log. */
export interface BackendHost {
  invoke(name: string, triggerValue: unknown): Promise<unknown>;
  orchestratorName(name: string): string | undefined;
  activityName(name: string): string | undefined;
  log: {
    info(m: string, f?: Record<string, unknown>): void;
    warn(m: string, f?: Record<string, unknown>): void;
    error(m: string, f?: Record<string, unknown>): void;
  };
}
