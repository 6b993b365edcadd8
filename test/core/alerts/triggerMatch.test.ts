import { describe, expect, it } from 'vitest';
import { triggerMatches } from '../../../core/alerts/triggerMatch';
import { triggerMatchSchema } from '../../../core/alerts/triggerSchema';

const alert = {
  alertRule: 'Site-A-Down',
  alertTargetIDs: [
    '/subscriptions/s/resourceGroups/site-a/providers/Microsoft.Network/connections/vpn',
  ],
  severity: 'Sev2' as const,
  signalType: 'Metric' as const,
  customProperties: { site: 'a', env: 'prod' },
};

const trigger = (match: Record<string, unknown>, enabled = true) => ({
  match: triggerMatchSchema.parse(match),
  enabled,
});

describe('alert trigger matching', () => {
  it.each([
    ['rule, any case', { rules: ['site-a-down'] }, true],
    ['another rule', { rules: ['site-b-down'] }, false],
    ['one of several rules', { rules: ['x', 'site-a-down'] }, true],
    [
      'target equal',
      {
        targetIds: [
          '/subscriptions/s/resourceGroups/site-a/providers/Microsoft.Network/connections/vpn',
        ],
      },
      true,
    ],
    [
      'target under a resource group, any case',
      { targetIds: ['/SUBSCRIPTIONS/s/resourcegroups/site-a'] },
      true,
    ],
    [
      'target prefix that is not a parent',
      { targetIds: ['/subscriptions/s/resourceGroups/site'] },
      false,
    ],
    ['min severity Sev2 (equal)', { rules: ['site-a-down'], minSeverity: 'Sev2' }, true],
    [
      'min severity Sev3 (Sev2 is more severe)',
      { rules: ['site-a-down'], minSeverity: 'Sev3' },
      true,
    ],
    [
      'min severity Sev1 (Sev2 is less severe)',
      { rules: ['site-a-down'], minSeverity: 'Sev1' },
      false,
    ],
    ['signal type listed', { rules: ['site-a-down'], signalTypes: ['Log', 'Metric'] }, true],
    ['signal type not listed', { rules: ['site-a-down'], signalTypes: ['Log'] }, false],
    [
      'custom properties all equal',
      { rules: ['site-a-down'], customProperties: { site: 'a', env: 'prod' } },
      true,
    ],
    ['custom property differs', { rules: ['site-a-down'], customProperties: { site: 'b' } }, false],
    [
      'custom property missing',
      { rules: ['site-a-down'], customProperties: { region: 'x' } },
      false,
    ],
  ])('%s', (_what, match, expected) => {
    expect(triggerMatches(trigger(match), alert)).toBe(expected);
  });

  it('a disabled trigger matches nothing; a trigger names rules or targets', () => {
    expect(triggerMatches(trigger({ rules: ['site-a-down'] }, false), alert)).toBe(false);
    expect(triggerMatchSchema.safeParse({ minSeverity: 'Sev1' }).success).toBe(false);
  });
});
