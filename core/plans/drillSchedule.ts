import { CronExpressionParser } from 'cron-parser';
import { validation } from '../errors';

/**
 * A plan's drill schedule: NCRONTAB with seconds first (as Functions timers: `0 0 3 * * 0` is
 * Sundays 03:00) or five-field cron, in UTC. A drill more often than hourly is refused: each
 * one boots the whole plan in the test network.
 */
export function nextDrillAt(schedule: string, after: number): number {
  const fields = schedule.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6)
    throw validation(`Drill schedule '${schedule}' is not cron (6 fields, seconds first, or 5).`);
  try {
    return CronExpressionParser.parse(schedule, { currentDate: new Date(after), tz: 'UTC' })
      .next()
      .getTime();
  } catch {
    throw validation(`Drill schedule '${schedule}' is not a valid cron expression.`);
  }
}

export const MIN_DRILL_INTERVAL_MS = 3600_000;

/** Validates a schedule: parseable, and at most one drill an hour. */
export function checkDrillSchedule(schedule: string, now: number): void {
  const first = nextDrillAt(schedule, now);
  const second = nextDrillAt(schedule, first);
  if (second - first < MIN_DRILL_INTERVAL_MS)
    throw validation(`Drill schedule '${schedule}' fires more than once an hour.`);
}

/** Whether a drill is due now; `nextAt` absent = not yet scheduled (the timer schedules it). */
export const drillDue = (nextAt: string | undefined, now: number): boolean =>
  nextAt !== undefined && Date.parse(nextAt) <= now;
