/** Short-lived credentials a machine uses to send batches (Event Hubs) and claim-check blobs. */
export interface IngestCredentials {
  eventHubs: {
    /** e.g. sb://ns.servicebus.windows.net/ (or the local endpoint). */
    endpoint: string;
    hub: string;
    /** Publisher id (= machineId); events go to `<hub>/publishers/<publisher>`. */
    publisher: string;
    /** The resource URI the token is scoped to. */
    resourceUri: string;
    /** `SharedAccessSignature sr=…&sig=…&se=…&skn=…` */
    sasToken: string;
    expiresAt: string;
    /** Set for a local emulator endpoint: connect with plain AMQP (`UseDevelopmentEmulator=true`). */
    useDevelopmentEmulator?: boolean;
  };
  blob: {
    /** Container URL without a query; append `/<machineId>/<name>?<sas>`. */
    containerUrl: string;
    container: string;
    /** Uploads must go under this prefix (the ingest function rejects others). */
    prefix: string;
    sas: string;
    permissions: string;
    expiresAt: string;
  };
}

/** Port: computes SAS credentials for a machine (needs account keys: adapter-side). */
export interface IngestCredentialIssuer {
  issue(machineId: string): Promise<IngestCredentials>;
}
