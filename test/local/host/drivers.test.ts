import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHost, type RunningHost } from '../../../local/host/startHost';
import type {
  HostContext,
  HostFunction,
  HostLogger,
  TriggerDriver,
} from '../../../local/host/plugin';

const quiet: HostLogger = { info: () => {}, warn: () => {}, error: () => {} };
let host: RunningHost | undefined;
afterAll(() => host?.stop());

describe('external trigger drivers', () => {
  it('get their functions, invoke them with plain values, resolve extra inputs and serve extra routes', async () => {
    let seen: HostFunction[] = [];
    let ctx: HostContext | undefined;
    let stopped = false;
    const driver: TriggerDriver = {
      triggerTypes: ['FAKETRIGGER'],
      inputTypes: ['fakeInput'],
      async start(functions, hostCtx) {
        seen = functions;
        ctx = hostCtx;
        hostCtx.addHttpRoute('/runtime/webhooks/fake/', (_req, res) => {
          res.writeHead(200, { 'content-type': 'text/plain' }).end('fake webhook');
        });
      },
      resolveInput: (binding, fn) => ({ for: fn.name, flavour: binding.flavour }),
      async stop() {
        stopped = true;
      },
    };
    host = await startHost({
      entry: [join(__dirname, 'fixtures/driverApp.ts')],
      stateDir: mkdtempSync(join(tmpdir(), 'drivers-')),
      masterKey: 'master-key-for-tests',
      settings: { FAKE_SETTING: 'from-settings' },
      drivers: [driver],
      log: quiet,
    });
    expect(seen.map((f) => [f.name, f.triggerType, f.trigger.topic])).toEqual([
      ['fakeFn', 'fakeTrigger', 'news'],
    ]);
    expect(ctx!.settings.FAKE_SETTING).toBe('from-settings');
    expect(ctx!.baseUrl).toBe(host.baseUrl);
    const result = await ctx!.invoke('fakeFn', {
      triggerValue: { a: 1, b: [1, 2] },
      triggerMetadata: { PartitionKey: 'p1', SequenceNumber: 7 },
    });
    expect(result.returnValue).toEqual({
      got: { a: 1, b: [1, 2] },
      extra: { for: 'fakeFn', flavour: 'plain' },
      meta: { partitionKey: 'p1', sequenceNumber: 7 },
      setting: 'from-settings',
      hooked: true,
      post: true,
    });
    const viaHttp = await fetch(`${host.baseUrl}/api/with-input`);
    expect(await viaHttp.json()).toEqual({ extra: { for: 'httpWithInput', flavour: 'plain' } });
    const res = await fetch(`${host.baseUrl}/runtime/webhooks/fake/x`);
    expect(await res.text()).toBe('fake webhook');
    await expect(ctx!.invoke('missing', { triggerValue: 1 })).rejects.toThrow(/No function/);
    await host.stop();
    host = undefined;
    expect(stopped).toBe(true);
  });
});
