#!/usr/bin/env node
// `npm start`: the whole local stack (Azurite, Cosmos emulator, services, Functions host).
//   node dist/local/stack/main.js [--port 7071] [--fresh] [--in-memory] [--verbose] [--state-dir .haven]
//     [--one-account]  (the replicas in the main storage account, not in their own as deployed)
import { appendFileSync, mkdirSync, rmSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { stopLocalArmVms } from '../arm/localArm';
import type { HostLogger } from '../host/plugin';
import { PortBusyError, startLocalStack } from './startLocalStack';

function fileLogger(file: string, verbose: boolean): HostLogger {
  const write = (level: string, msg: string, fields?: Record<string, unknown>) => {
    const line = `${new Date().toISOString()} ${level} ${msg}${fields && Object.keys(fields).length ? ` ${JSON.stringify(fields)}` : ''}\n`;
    appendFileSync(file, line);
    if (verbose) process.stdout.write(line);
    else if (level === 'error') process.stderr.write(line);
  };
  return {
    info: (m, f) => write('info', m, f),
    warn: (m, f) => write('warn', m, f),
    error: (m, f) => write('error', m, f),
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '7071' },
      'state-dir': { type: 'string', default: '.haven' },
      fresh: { type: 'boolean', default: false },
      'in-memory': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      'one-account': { type: 'boolean', default: false },
      entry: { type: 'string', multiple: true },
    },
  });
  const stateDir = resolve(values['state-dir']!);
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`Invalid --port '${values.port}'.`);
    process.exit(2);
  }
  if (values.fresh) {
    await stopLocalArmVms(stateDir); // guests of the wiped state would run on, unreachable
    rmSync(stateDir, { recursive: true, force: true });
  }
  mkdirSync(join(stateDir, 'logs'), { recursive: true });
  const log = fileLogger(join(stateDir, 'logs', 'host.log'), values.verbose!);
  // Signals are handled from the start: a stop during start-up waits for it, then stops it all.
  let stopping = false;
  const starting = startLocalStack({
    stateDir,
    port,
    persistent: !values['in-memory'],
    replicaAccount: !values['one-account'],
    entry: values.entry?.map((e) => resolve(e)),
    log,
  });
  const shutdown = (signal: string) => {
    if (stopping) {
      console.error(`${signal} again: exiting without a clean stop.`);
      process.exit(1);
    }
    stopping = true;
    starting
      .then((stack) => stack.stop())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  let stack: Awaited<typeof starting>;
  try {
    stack = await starting;
  } catch (e) {
    if (e instanceof PortBusyError) {
      console.error(
        `Cannot start: port ${e.port} is already in use (is another stack running?). Use --port to pick another.`,
      );
    } else {
      console.error(`Cannot start the local stack: ${(e as Error)?.message ?? e}`);
    }
    process.exit(1);
  }
  if (stopping) return;
  const rel = relative(process.cwd(), stack.envFile);
  const envPath = rel && !rel.startsWith('..') ? rel : stack.envFile;
  console.log(`Haven local stack ready at ${stack.apiUrl} (env: ${envPath})`);
}

void main();
