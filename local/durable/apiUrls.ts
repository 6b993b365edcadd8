/**
 * The URLs the durabletask extension hands out: an instance's management links and the
 * `durableClient` binding payload the SDK builds its client from.
 */
export const WEBHOOK_PREFIX = '/runtime/webhooks/durabletask/';

export interface ApiConfig {
  baseUrl: string;
  hubName: string;
  /** Key accepted as `code` / `x-functions-key` on the webhooks (durabletask system key). */
  systemKey?: string;
  /** Further keys accepted (the host master key). */
  extraKeys: string[];
  /** Secret path segment of the rpc base URL (the client binding's `rpcBaseUrl`). */
  rpcToken: string;
}

export function managementUrls(cfg: ApiConfig, id: string): Record<string, string> {
  const base = `${cfg.baseUrl}${WEBHOOK_PREFIX.slice(0, -1)}`;
  const q = `taskHub=${encodeURIComponent(cfg.hubName)}&connection=Storage${cfg.systemKey ? `&code=${cfg.systemKey}` : ''}`;
  const i = id === 'INSTANCEID' ? id : encodeURIComponent(id);
  return {
    id,
    statusQueryGetUri: `${base}/instances/${i}?${q}`,
    sendEventPostUri: `${base}/instances/${i}/raiseEvent/{eventName}?${q}`,
    terminatePostUri: `${base}/instances/${i}/terminate?reason={text}&${q}`,
    rewindPostUri: `${base}/instances/${i}/rewind?reason={text}&${q}`,
    purgeHistoryDeleteUri: `${base}/instances/${i}?${q}`,
    restartPostUri: `${base}/instances/${i}/restart?${q}`,
    suspendPostUri: `${base}/instances/${i}/suspend?reason={text}&${q}`,
    resumePostUri: `${base}/instances/${i}/resume?reason={text}&${q}`,
  };
}

/** The `durableClient` input binding payload, as the extension hands it to `df.getClient`. */
export function clientPayload(cfg: ApiConfig): Record<string, unknown> {
  const base = `${cfg.baseUrl}${WEBHOOK_PREFIX.slice(0, -1)}`;
  const code = cfg.systemKey ? `code=${cfg.systemKey}` : '';
  return {
    taskHubName: cfg.hubName,
    creationUrls: {
      createNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]${code ? `?${code}` : ''}`,
      createAndWaitOnNewInstancePostUri: `${base}/orchestrators/{functionName}[/{instanceId}]?timeout={timeoutInSeconds}&pollingInterval={intervalInSeconds}${code ? `&${code}` : ''}`,
    },
    managementUrls: managementUrls(cfg, 'INSTANCEID'),
    baseUrl: base,
    requiredQueryStringParameters: code,
    rpcBaseUrl: `${cfg.baseUrl}${WEBHOOK_PREFIX}rpc/${cfg.rpcToken}/`,
    httpBaseUrl: base,
    maxGrpcMessageSizeInBytes: 0,
    grpcHttpClientTimeout: '00:01:40',
  };
}
