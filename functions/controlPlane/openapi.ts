import { operations, register } from './api';
// Every operation module, so the document is complete whichever module loads first.
import './sites';
import './enrollment';
import './policies';
import './machines';
import './agent';
import './protection';
import './consistencyGroups';
import './health';
import { buildOpenApi } from './openApiDocument';

export const openApi = register(
  {
    name: 'openApi',
    method: 'GET',
    route: 'openapi.json',
    caller: 'anonymous',
    tag: 'operations',
    summary: 'This API as an OpenAPI 3.1 document',
    responses: { 200: 'The document' },
  },
  async () => ({ jsonBody: buildOpenApi(operations) }),
);
