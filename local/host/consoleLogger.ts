import type { HostLogger } from './plugin';

/** One line per entry on stdout/stderr: time, level, message, then fields as JSON. */
export function createConsoleLogger(prefix = 'host'): HostLogger {
  const line = (level: string, msg: string, fields?: Record<string, unknown>) =>
    `${new Date().toISOString()} [${prefix}] ${level} ${msg}${fields && Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : ''}`;
  return {
    info: (m, f) => process.stdout.write(line('info', m, f) + '\n'),
    warn: (m, f) => process.stderr.write(line('warn', m, f) + '\n'),
    error: (m, f) => process.stderr.write(line('error', m, f) + '\n'),
  };
}
