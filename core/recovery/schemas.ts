import { z } from 'zod';
import { pointChoiceSchema } from './pointChoice';

/** Bodies of the recovery POSTs (strict: unknown fields are refused). */
export const testFailoverBody = z
  .object({
    point: pointChoiceSchema
      .optional()
      .describe(
        'latest (default), latest-processed, latest-app-consistent, latest-group, or a point id',
      ),
  })
  .strict();
export const failoverBody = z
  .object({
    point: pointChoiceSchema.optional().describe('Point choice or id (default latest)'),
    planned: z
      .boolean()
      .optional()
      .describe('Site still up: final bookmark with writes held, zero data loss'),
  })
  .strict();
export const changePointBody = z.object({ point: pointChoiceSchema }).strict();
