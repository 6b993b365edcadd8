#!/usr/bin/env node
// Runs the local Functions host as a process:
//   node --import tsx local/host/main.ts --entry functions/index.ts --port 7071 --master-key K ...
// Prints "Haven host ready at <url>" once listening; SIGINT/SIGTERM stop it cleanly.
import { parseArgs } from 'node:util';
import { PortInUseError, startHost } from './startHost';

function pairs(list: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of list ?? []) {
    const i = p.indexOf('=');
    if (i > 0) out[p.slice(0, i)] = p.slice(i + 1);
  }
  return out;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      entry: { type: 'string', multiple: true },
      port: { type: 'string', default: '7071' },
      hostname: { type: 'string', default: '127.0.0.1' },
      'state-dir': { type: 'string', default: '.haven/host' },
      'master-key': { type: 'string' },
      'function-key': { type: 'string', multiple: true },
      setting: { type: 'string', multiple: true },
      'host-json': { type: 'string' },
      'blob-poll-ms': { type: 'string' },
      'queue-poll-ms': { type: 'string' },
      'max-body-bytes': { type: 'string' },
    },
  });
  const masterKey = values['master-key'] ?? process.env.HAVEN_ADMIN_KEY;
  if (!values.entry?.length || !masterKey) {
    console.error(
      'usage: main --entry <module> [--entry ...] --master-key <key> [--port 7071] [--setting K=V]',
    );
    process.exit(2);
  }
  const num = (s: string | undefined) => (s === undefined ? undefined : Number(s));
  const starting = startHost({
    entry: values.entry,
    port: Number(values.port),
    hostname: values.hostname,
    stateDir: values['state-dir']!,
    masterKey,
    functionKeys: pairs(values['function-key']),
    settings: pairs(values.setting),
    hostJsonPath: values['host-json'],
    blobPollIntervalMs: num(values['blob-poll-ms']),
    queueMaxPollIntervalMs: num(values['queue-poll-ms']),
    maxRequestBodyBytes: num(values['max-body-bytes']),
  });
  // A signal during start-up waits for the start, then stops cleanly.
  let stopping = false;
  const shutdown = () => {
    if (stopping) process.exit(1);
    stopping = true;
    starting
      .then((host) => host.stop())
      .then(
        () => process.exit(0),
        () => process.exit(1),
      );
  };
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
  const host = await starting;
  if (!stopping) console.log(`Haven host ready at ${host.baseUrl}`);
}

main().catch((e: unknown) => {
  if (e instanceof PortInUseError) console.error(e.message);
  else console.error(e);
  process.exit(1);
});
