import type { ArmContext, ArmReply, ArmRequest } from './armContext';
import { ArmError } from './armError';
import { resourceId } from './armRoute';
import type { StoredResource } from './armStore';

/** The ARM JSON of a stored resource (child resources like subnets carry no location/tags). */
export function armJson(r: StoredResource): Record<string, unknown> {
  const child = r.type.split('/').length > 2;
  return {
    id: r.id,
    name: r.name,
    type: r.type,
    ...(child ? {} : { location: r.location, tags: r.tags }),
    ...(r.sku ? { sku: r.sku } : {}),
    ...(r.managedBy ? { managedBy: r.managedBy } : {}),
    properties: r.properties,
  };
}

export const props = (body: Record<string, unknown>): Record<string, unknown> =>
  (body.properties as Record<string, unknown> | undefined) ?? {};

export const idOfRequest = (req: ArmRequest) =>
  resourceId(
    req.route.subscription,
    req.route.resourceGroup,
    req.route.type,
    req.route.name,
    req.route.parent,
  );

/** Location is required on top-level resources; it must be the endpoint's one region. */
export function checkLocation(ctx: ArmContext, body: Record<string, unknown>): string {
  const location = body.location;
  if (typeof location !== 'string' || !location) {
    throw new ArmError(
      400,
      'LocationRequired',
      'The location property is required for this definition.',
    );
  }
  if (location.toLowerCase().replace(/\s/g, '') !== ctx.opts.location.toLowerCase()) {
    throw new ArmError(
      400,
      'LocationNotAvailableForResourceType',
      `The provided location '${location}' is not available for resource type. List of available regions is '${ctx.opts.location}'.`,
    );
  }
  return ctx.opts.location;
}

export const tagsOf = (body: Record<string, unknown>): Record<string, string> =>
  (body.tags as Record<string, string> | undefined) ?? {};

/** A created (201) or updated (200) resource, with the operation's URLs when there is one. */
export function putReply(
  created: boolean,
  r: StoredResource,
  headers?: Record<string, string>,
): ArmReply {
  return { status: created ? 201 : 200, body: armJson(r), ...(headers ? { headers } : {}) };
}

/** A delete accepted as an operation (202), or 204 when there was nothing to delete. */
export function deleteReply(headers?: Record<string, string>): ArmReply {
  return headers ? { status: 202, headers } : { status: 204 };
}
