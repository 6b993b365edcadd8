import { register } from './api';
import { registerList } from './listOperation';
import { issuedTokenResponse, siteResponse } from './responseSchemas';
import { handler } from '../http/handler';
import { param, parseBody } from '../http/body';
import { createSiteBody, createTokenBody, siteIdSchema } from '../../core/controlPlane/schemas';

export const createSite = register(
  {
    name: 'createSite',
    method: 'POST',
    route: 'sites',
    caller: 'admin',
    tag: 'sites',
    summary: 'Create a site',
    body: createSiteBody,
    response: siteResponse,
    responses: { 201: 'Site created' },
  },
  handler(async (root, req) => {
    const body = await parseBody(req, createSiteBody, root.config.maxBodyBytes);
    const site = await root.controlPlane.sites.create(body);
    return { status: 201, headers: { location: `/api/sites/${site.id}` }, jsonBody: site };
  }),
);

export const listSites = registerList(
  {
    name: 'listSites',
    route: 'sites',
    tag: 'sites',
    summary: 'List sites',
    item: siteResponse,
    what: 'sites',
  },
  (root, page) => root.controlPlane.sites.list(page),
);

export const getSite = register(
  {
    name: 'getSite',
    method: 'GET',
    route: 'sites/{id}',
    caller: 'admin',
    tag: 'sites',
    summary: 'Get a site',
    response: siteResponse,
    responses: { 200: 'The site' },
  },
  handler(async (root, req) => ({
    jsonBody: await root.controlPlane.sites.get(param(req, 'id', siteIdSchema)),
  })),
);

export const createEnrollmentToken = register(
  {
    name: 'createEnrollmentToken',
    method: 'POST',
    route: 'sites/{id}/enrollment-tokens',
    caller: 'admin',
    tag: 'enrollment',
    summary: 'Issue a one-time enrollment token (returned once)',
    body: createTokenBody,
    response: issuedTokenResponse,
    responses: { 201: 'Token issued' },
  },
  handler(async (root, req) => {
    const siteId = param(req, 'id', siteIdSchema);
    const body = await parseBody(req, createTokenBody, root.config.maxBodyBytes);
    const token = await root.controlPlane.enrollment.issueToken(siteId, body);
    return { status: 201, headers: { 'cache-control': 'no-store' }, jsonBody: token };
  }),
);
