import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLocalStack, type LocalStack } from '../../../local/stack/startLocalStack';

let stack: LocalStack | undefined;
afterAll(() => stack?.stop());

describe('the Haven app on the local stack', () => {
  it('loads every registration of functions/index.ts and answers its health check', async () => {
    stack = await startLocalStack({
      stateDir: mkdtempSync(join(tmpdir(), 'real-')),
      port: 0,
      persistent: false,
      entry: [join(__dirname, '../../../functions/index.ts')],
      services: [],
    });
    const names = stack.host.functions.map((f) => f.name);
    expect(names).toContain('health');
    expect(names).toContain('hydrate');
    const res = await fetch(`${stack.apiUrl}/health`);
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({ status: 'ok' });
  });
});
