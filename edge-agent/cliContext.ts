import type { AgentState } from './agentState';
import type { Args } from './cliArgs';
import { redact } from './redact';

/** What every agent sub-command gets from `main`: its arguments, the state and the output. */
export interface CliContext {
  a: Args;
  json: boolean;
  state: AgentState;
  /** One line on stdout: `human`, or `obj` as JSON under --json. */
  print: (human: string, obj: unknown) => void;
  log: (msg: string, fields?: Record<string, unknown>) => void;
}

/** Log lines on stderr (JSON lines under --json), redacted: secrets are never logged. */
export function logger(json: boolean) {
  return (msg: string, fields?: Record<string, unknown>) => {
    const line = json
      ? JSON.stringify({ at: new Date().toISOString(), msg, ...fields })
      : `${new Date().toISOString()} ${msg}${
          fields
            ? ' ' +
              Object.entries(fields)
                .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
                .join(' ')
            : ''
        }`;
    process.stderr.write(redact(line) + '\n');
  };
}

/** Aborted by SIGINT or SIGTERM, so a long command stops cleanly. */
export function signalController(): AbortController {
  const ac = new AbortController();
  const stop = () => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  return ac;
}
