import { ComputeManagementClient } from '@azure/arm-compute';
import { NetworkManagementClient } from '@azure/arm-network';
import {
  createDefaultHttpClient,
  createHttpHeaders,
  createPipelineFromOptions,
  createPipelineRequest,
  type PipelineResponse,
} from '@azure/core-rest-pipeline';
import { pemText, tokenCredentialOf } from '../identity/tokenCredential';

/** ARM's token audience, whatever the endpoint (arm-network would derive one from it). */
export const ARM_SCOPE = 'https://management.azure.com/.default';

export interface ArmTargetSettings {
  endpoint: string;
  subscriptionId: string;
  credential: 'managed-identity' | 'default' | 'static-token';
  /** static-token only: the local endpoint's bearer token. */
  token?: string;
  /** PEM text, or a path to it: the only CA trusted for the endpoint (the local stack's). */
  caCert?: string;
  /** managed-identity: a user-assigned identity's client id. */
  managedIdentityClientId?: string;
}

export interface ArmClients {
  compute: ComputeManagementClient;
  network: NetworkManagementClient;
  /** An ARM request through the network client's pipeline (auth, retries): resource groups, generic GETs. */
  rest(method: 'GET' | 'PUT' | 'DELETE', url: string, body?: unknown): Promise<PipelineResponse>;
  /** A request with no ARM credential: SAS URLs of disks, serial logs (the URL carries its own grant). */
  sas(url: string, headers?: Record<string, string>): Promise<PipelineResponse>;
  /** A ranged binary GET of a SAS URL (disk and snapshot access URIs): status and bytes. */
  sasBytes(url: string, offset: number, length: number): Promise<{ status: number; body: Buffer }>;
}

export function createArmClients(s: ArmTargetSettings): ArmClients {
  const credential = tokenCredentialOf(s, 'HAVEN_ARM_TOKEN');
  const ca = pemText(s.caCert);
  const tlsOptions = ca ? { ca } : undefined;
  const compute = new ComputeManagementClient(credential, s.subscriptionId, {
    endpoint: s.endpoint,
    ...(tlsOptions ? { tlsOptions } : {}),
  });
  const network = new NetworkManagementClient(credential, s.subscriptionId, {
    endpoint: s.endpoint,
    credentialScopes: [ARM_SCOPE],
    ...(tlsOptions ? { tlsOptions } : {}),
  });
  const plain = createPipelineFromOptions({ ...(tlsOptions ? { tlsOptions } : {}) });
  const http = createDefaultHttpClient();
  return {
    compute,
    network,
    rest: (method, url, body) =>
      network.sendRequest(
        createPipelineRequest({
          url,
          method,
          headers: createHttpHeaders({ 'content-type': 'application/json' }),
          ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
        }),
      ),
    sas: (url, headers = {}) =>
      plain.sendRequest(
        http,
        createPipelineRequest({ url, method: 'GET', headers: createHttpHeaders(headers) }),
      ),
    sasBytes: async (url, offset, length) => {
      const res = await plain.sendRequest(
        http,
        createPipelineRequest({
          url,
          method: 'GET',
          headers: createHttpHeaders({ range: `bytes=${offset}-${offset + length - 1}` }),
          streamResponseStatusCodes: new Set([200, 206]),
        }),
      );
      const chunks: Buffer[] = [];
      for await (const c of res.readableStreamBody ?? []) chunks.push(Buffer.from(c as Buffer));
      return { status: res.status, body: Buffer.concat(chunks) };
    },
  };
}
