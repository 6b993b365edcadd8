import { parseArgs } from 'node:util';
import {
  startEventHubsEmulator,
  type EventHubDefinition,
  type SharedAccessKeyDefinition,
} from './emulator';

const usage = `Usage: node local/eventhubs/main.js --data-dir DIR [--port N] [--host H]
  --hub NAME:PARTITIONS[:CG1,CG2][:RETENTION_HOURS]   (repeatable)
  --key NAME:KEY                                      (repeatable; or HAVEN_EVENTHUBS_KEYS="NAME:KEY,...")
Prints one JSON line {"port":N,"host":H} once it listens; SIGTERM/SIGINT stop it.`;

function parseHub(spec: string): EventHubDefinition {
  const [name, partitions, cgs, retention] = spec.split(':');
  const n = Number(partitions);
  if (!name || !Number.isInteger(n) || n < 1) throw new Error(`bad --hub '${spec}'\n${usage}`);
  return {
    name,
    partitions: n,
    consumerGroups: cgs ? cgs.split(',').filter(Boolean) : [],
    retentionHours: retention ? Number(retention) : undefined,
  };
}

function parseKey(spec: string): SharedAccessKeyDefinition {
  const i = spec.indexOf(':');
  if (i <= 0) throw new Error(`bad --key (NAME:KEY)\n${usage}`);
  return { name: spec.slice(0, i), key: spec.slice(i + 1) };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      'data-dir': { type: 'string' },
      port: { type: 'string', default: '0' },
      host: { type: 'string', default: '127.0.0.1' },
      hub: { type: 'string', multiple: true, default: [] },
      key: { type: 'string', multiple: true, default: [] },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    console.log(usage);
    return;
  }
  if (!values['data-dir']) throw new Error(`--data-dir is required\n${usage}`);
  // Keys may come from the environment so they don't show up in `ps`.
  const keySpecs = [
    ...values.key,
    ...(process.env.HAVEN_EVENTHUBS_KEYS?.split(',').filter(Boolean) ?? []),
  ];
  const emulator = await startEventHubsEmulator({
    dataDir: values['data-dir'],
    port: Number(values.port),
    host: values.host,
    hubs: values.hub.map(parseHub),
    keys: keySpecs.map(parseKey),
    log: (m) => console.error(m),
  });
  console.log(JSON.stringify({ port: emulator.port, host: emulator.host }));
  const stop = (): void => {
    void emulator.stop().then(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
