import { mkdirSync, readFileSync, writeFileSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { resolveSettingRefs } from './appSettings';
import type { HostContext, HostFunction, TriggerDriver } from './plugin';
import { parseSchedule, type TimerSchedule } from './timerSchedule';

interface ScheduleStatus {
  Last: string;
  Next: string;
  LastUpdated: string;
}

const MAX_TIMEOUT = 2 ** 31 - 1;

/**
 * One timer function: runs never overlap (the next run is only armed after the previous one
 * ends), missed occurrences collapse into one run with `isPastDue`, and the schedule status is
 * kept under the state dir so a restart notices what it missed (the Functions "schedule monitor").
 */
class TimerLoop {
  #timer?: NodeJS.Timeout;
  #stopped = false;
  #running?: Promise<void>;
  readonly #statusFile: string;

  constructor(
    readonly fn: HostFunction,
    readonly schedule: TimerSchedule,
    readonly host: HostContext,
  ) {
    const dir = join(host.stateDir, 'timers');
    mkdirSync(dir, { recursive: true });
    this.#statusFile = join(dir, `${fn.name}.json`);
  }

  start(): void {
    const now = new Date();
    const status = this.#readStatus();
    if (this.fn.trigger.runOnStartup === true) this.#fire(now, false, status);
    else if (status && new Date(status.Next) < now && this.fn.trigger.useMonitor !== false) {
      this.#fire(now, true, status);
    } else this.#arm(status ? new Date(status.Next) : this.schedule.next(now));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  #arm(at: Date): void {
    if (this.#stopped) return;
    const wait = at.getTime() - Date.now();
    if (wait > MAX_TIMEOUT) {
      this.#timer = setTimeout(() => this.#arm(at), MAX_TIMEOUT);
      return;
    }
    this.#timer = setTimeout(() => this.#fire(at, false, this.#readStatus()), Math.max(0, wait));
  }

  #fire(scheduledFor: Date, pastDue: boolean, previous: ScheduleStatus | undefined): void {
    if (this.#stopped) return;
    const next = this.schedule.next(scheduledFor);
    const isPastDue = pastDue || Date.now() - scheduledFor.getTime() > 1000;
    const run = async () => {
      try {
        await this.host.invoke(this.fn.name, {
          triggerValue: {
            Schedule: { AdjustForDST: true },
            ScheduleStatus: previous ?? null,
            IsPastDue: isPastDue,
          },
        });
      } catch {
        // Already logged by the host; the schedule goes on.
      }
      this.#writeStatus({
        Last: scheduledFor.toISOString(),
        Next: next.toISOString(),
        LastUpdated: new Date().toISOString(),
      });
      if (this.#stopped) return;
      // Occurrences missed while this run was busy collapse into one past-due run now.
      if (next.getTime() < Date.now()) this.#fire(new Date(), true, this.#readStatus());
      else this.#arm(next);
    };
    this.#running = run();
  }

  #readStatus(): ScheduleStatus | undefined {
    try {
      return JSON.parse(readFileSync(this.#statusFile, 'utf8')) as ScheduleStatus;
    } catch {
      return undefined;
    }
  }

  #writeStatus(s: ScheduleStatus): void {
    writeFileSync(`${this.#statusFile}.tmp`, JSON.stringify(s));
    renameSync(`${this.#statusFile}.tmp`, this.#statusFile);
  }
}

export function timerDriver(): TriggerDriver {
  const loops: TimerLoop[] = [];
  return {
    triggerTypes: ['timerTrigger'],
    async start(functions, host) {
      const tz = host.settings.WEBSITE_TIME_ZONE || 'UTC';
      for (const fn of functions) {
        const expr = resolveSettingRefs(String(fn.trigger.schedule ?? ''), host.settings);
        const loop = new TimerLoop(fn, parseSchedule(expr, tz), host);
        loops.push(loop);
        host.log.info(`Timer '${fn.name}' scheduled (${expr})`);
      }
      loops.forEach((l) => l.start());
    },
    async stop() {
      await Promise.all(loops.map((l) => l.stop()));
    },
  };
}
