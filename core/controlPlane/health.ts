import { HavenError } from '../errors';

/** A dependency check for `GET /api/health`: resolves when healthy, throws otherwise. */
export interface HealthProbe {
  readonly name: string;
  check(): Promise<void>;
}

export interface DependencyHealth {
  name: string;
  status: 'ok' | 'failed';
  latencyMs: number;
  detail?: string;
}

export interface HealthReport {
  status: 'ok' | 'degraded';
  checkedAt: string;
  dependencies: DependencyHealth[];
}

/** Runs every probe in parallel with a timeout; never throws. */
export async function checkHealth(
  probes: readonly HealthProbe[],
  opts: { timeoutMs?: number; now?: () => number } = {},
): Promise<HealthReport> {
  const timeoutMs = opts.timeoutMs ?? 5000;
  const now = opts.now ?? Date.now;
  const dependencies = await Promise.all(
    probes.map(async (p): Promise<DependencyHealth> => {
      const started = performance.now();
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          p.check(),
          new Promise((_, reject) => {
            timer = setTimeout(
              () => reject(new Error(`timed out after ${timeoutMs} ms`)),
              timeoutMs,
            );
          }),
        ]);
        return { name: p.name, status: 'ok', latencyMs: Math.round(performance.now() - started) };
      } catch (e) {
        // Only our own messages: SDK errors may echo URLs with secrets.
        const detail =
          e instanceof HavenError
            ? e.message
            : e instanceof Error && /^timed out/.test(e.message)
              ? e.message
              : 'unavailable';
        return {
          name: p.name,
          status: 'failed',
          latencyMs: Math.round(performance.now() - started),
          detail,
        };
      } finally {
        clearTimeout(timer);
      }
    }),
  );
  return {
    status: dependencies.every((d) => d.status === 'ok') ? 'ok' : 'degraded',
    checkedAt: new Date(now()).toISOString(),
    dependencies,
  };
}
