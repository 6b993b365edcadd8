import { register } from '../controlPlane/api';
import { handler } from '../http/handler';
import { param, parseBody } from '../http/body';
import { etagHeader, ifMatch } from '../http/etag';
import { resourceIdSchema } from '../../core/controlPlane/schemas';
import { recoverySettingsBody, recoverySettingsSchema } from '../../core/recovery/settings';
import type { SettingsView } from '../../core/recovery/recoverySettingsStore';
import { z } from 'zod';
import { targetOfRoot } from './target';

const settingsResponse = z.object({
  machineId: z.string(),
  settings: recoverySettingsSchema,
  explicit: z
    .record(z.string(), z.unknown())
    .describe('What an operator set; the rest are defaults'),
});

const reply = (v: SettingsView) => ({
  headers: { etag: etagHeader(v.etag) },
  jsonBody: { machineId: v.machineId, settings: v.settings, explicit: v.explicit },
});

export const getRecoverySettings = register(
  {
    name: 'getRecoverySettings',
    method: 'GET',
    route: 'machines/{id}/recovery-settings',
    caller: 'admin',
    tag: 'recovery',
    summary: 'Recovery settings of a machine (defaults filled in), with an ETag',
    response: settingsResponse,
    responses: { 200: 'The settings' },
    etag: true,
  },
  handler(async (root, req) =>
    reply(await root.recovery.settings.get(param(req, 'id', resourceIdSchema))),
  ),
);

export const putRecoverySettings = register(
  {
    name: 'putRecoverySettings',
    method: 'PUT',
    route: 'machines/{id}/recovery-settings',
    caller: 'admin',
    tag: 'recovery',
    summary:
      'Change recovery settings (any subset; null resets a field to its default); validated against the target',
    body: recoverySettingsBody,
    response: settingsResponse,
    responses: { 200: 'The settings now' },
    etag: true,
  },
  handler(async (root, req) => {
    const id = param(req, 'id', resourceIdSchema);
    const body = await parseBody(req, recoverySettingsBody, root.config.maxBodyBytes);
    return reply(await root.recovery.settings.put(id, body, ifMatch(req), targetOfRoot(root)));
  }),
);
