import { z } from 'zod';
import { resourceIdSchema, siteIdSchema } from './schemas';

/** Request schemas of the consistency-group API (strict: unknown fields are refused). */

export const groupIdSchema = siteIdSchema;

export const createGroupBody = z
  .object({
    name: groupIdSchema.describe('Group id and name'),
    description: z.string().max(500).optional(),
    members: z.array(resourceIdSchema).max(100).default([]).describe('Initial member machines'),
  })
  .strict()
  .refine((b) => new Set(b.members).size === b.members.length, {
    message: 'members must be unique',
    path: ['members'],
  });

export const groupBookmarkBody = z
  .object({
    consistency: z.enum(['crash', 'app']).default('crash'),
    leadSeconds: z
      .number()
      .int()
      .min(1)
      .max(600)
      .optional()
      .describe("Seconds until the cut (default 10): longer than the members' poll interval"),
  })
  .strict();

export type CreateGroupBody = z.infer<typeof createGroupBody>;
export type GroupBookmarkBody = z.infer<typeof groupBookmarkBody>;
