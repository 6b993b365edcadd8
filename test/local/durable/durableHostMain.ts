// A Functions host process with the durable driver, for restart and SIGKILL tests:
//   node --import tsx test/local/durable/durableHostMain.ts <entry> <stateDir>
// App settings come from DURABLE_HOST_SETTINGS (JSON). Prints "Haven host ready at <url>".
import { startHost } from '../../../local/host/startHost';
import { createDurableDriver } from '../../../local/durable/driver';

async function main(): Promise<void> {
  const [entry, stateDir] = process.argv.slice(2);
  const settings = JSON.parse(process.env.DURABLE_HOST_SETTINGS ?? '{}') as Record<string, string>;
  const quiet = { info() {}, warn() {}, error() {} };
  const host = await startHost({
    entry: [entry!],
    stateDir: stateDir!,
    masterKey: settings.HAVEN_ADMIN_KEY!,
    settings,
    drivers: [createDurableDriver({ hubName: settings.HAVEN_DURABLE_HUB })],
    log: process.env.DURABLE_TEST_LOG ? undefined : quiet,
  });
  console.log(`Haven host ready at ${host.baseUrl}`);
  process.on('SIGTERM', () => void host.stop().then(() => process.exit(0)));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
