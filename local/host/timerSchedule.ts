import { CronExpressionParser } from 'cron-parser';
import { parseTimeSpan } from './timeSpan';

export interface TimerSchedule {
  /** First occurrence strictly after `after`. */
  next(after: Date): Date;
  describe: string;
}

/**
 * A timer trigger schedule: NCRONTAB with seconds first (`*\/5 * * * * *`; five-field cron is
 * accepted too) or a TimeSpan interval (`00:00:30`), in WEBSITE_TIME_ZONE or UTC.
 */
export function parseSchedule(expr: string, tz = 'UTC'): TimerSchedule {
  const span = parseTimeSpan(expr);
  if (span !== undefined) {
    if (span <= 0) throw new Error(`Timer interval must be positive: ${expr}`);
    return { next: (after) => new Date(after.getTime() + span), describe: `every ${span} ms` };
  }
  const fields = expr.trim().split(/\s+/);
  if (fields.length !== 5 && fields.length !== 6) {
    throw new Error(`Invalid NCRONTAB expression '${expr}' (expected 6 fields, seconds first)`);
  }
  CronExpressionParser.parse(expr, { tz }); // validate now rather than at first tick
  return {
    next: (after) => CronExpressionParser.parse(expr, { currentDate: after, tz }).next().toDate(),
    describe: `cron ${expr}`,
  };
}
