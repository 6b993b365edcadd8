import { describe, expect, it } from 'vitest';
import { azuriteResolve } from '../../../local/stack/azuriteModules';
import { keptTemplates } from '../../../local/stack/azuriteUriTemplates';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const parse = require(azuriteResolve('uri-templates')) as (t: string) => {
  fromUri(uri: string, o?: object): Record<string, unknown> | undefined;
};

// The templates Azurite's blob, queue and table dispatch match against, and paths of each shape.
const TEMPLATES = [
  '/',
  '/{containerName}',
  '/{containerName}/{blob}',
  '/{queueName}',
  '/{queueName}/messages',
  '/{queueName}/messages/{messageid}',
  '/{table}()',
  "/{table}(PartitionKey='{partitionKey}',RowKey='{rowKey}')",
];
const PATHS = [
  '/',
  '/replicas',
  '/$logs',
  '/replicas/m1/d1.vhd',
  '/replicas/a%20b/c',
  '/staging/m/d/7/000000000042',
  '/q/messages',
  '/q/messages/abc',
  '/Tables()',
  "/t(PartitionKey='p',RowKey='r')",
  '',
  '//',
];

describe('Azurite URI templates kept per template (local stack patch)', () => {
  it('matches every path as a template parsed afresh does, call after call', () => {
    const kept = keptTemplates(parse);
    let matched = 0;
    for (let round = 0; round < 3; round++) {
      for (const t of TEMPLATES) {
        for (const p of PATHS) {
          const mine = kept(t).fromUri(p, { strict: true });
          expect(mine).toEqual(parse(t).fromUri(p, { strict: true }));
          if (mine) matched++;
        }
      }
    }
    expect(matched).toBeGreaterThan(20);
  });

  it('parses each template once', () => {
    let parsed = 0;
    const kept = keptTemplates((t) => (parsed++, parse(t)));
    for (let i = 0; i < 5; i++) for (const t of TEMPLATES) kept(t);
    expect(parsed).toBe(TEMPLATES.length);
    expect(kept(TEMPLATES[2]!)).toBe(kept(TEMPLATES[2]!));
  });
});
