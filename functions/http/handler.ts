import type { HttpRequest, HttpResponseInit, InvocationContext } from '@azure/functions';
import { getRoot, type Root } from '../../app/root';
import { resourceIdSchema } from '../../core/controlPlane/schemas';
import { param } from './body';
import { problemResponse } from './problem';

export type Handler = (req: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>;

/**
 * Wraps a route body: gets the composition root, maps every thrown error to problem+json.
 * Triggers stay thin: parse → call core → map.
 */
export function handler(
  body: (root: Root, req: HttpRequest, context: InvocationContext) => Promise<HttpResponseInit>,
): Handler {
  return async (req, context) => {
    try {
      return await body(await getRoot(), req, context);
    } catch (e) {
      return problemResponse(e, context);
    }
  };
}

/** The machine credential check for `authLevel: 'anonymous'` machine endpoints. */
export async function authenticateMachine(root: Root, req: HttpRequest, machineId: string) {
  return root.controlPlane.machineAuth.authenticate(req.headers.get('authorization'), machineId);
}

/**
 * The `{id}` of a `machines/{id}/…` route, once the caller proved to be that machine. Runs
 * before the body is read, so a foreign caller learns nothing from body errors.
 */
export async function callingMachine(root: Root, req: HttpRequest): Promise<string> {
  const id = param(req, 'id', resourceIdSchema);
  await authenticateMachine(root, req, id);
  return id;
}
