import type * as EventHubsSdk from '@azure/event-hubs';
import type * as StorageBlobSdk from '@azure/storage-blob';

/**
 * The Azure SDKs the agent sends with, loaded when first used. Together they were ~60 % of the
 * agent's start (250 of 430 ms to load its modules on a 2-core VM): every command paid it
 * (`status`, `bookmark`, `disk add`, `restore`), and `run` paid it before reading a byte. Now
 * only a sink that sends loads them, once, when it first has something to send.
 */
let eventHubs: typeof EventHubsSdk | undefined;
let storageBlob: typeof StorageBlobSdk | undefined;

export function eventHubsSdk(): typeof EventHubsSdk {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use
  return (eventHubs ??= require('@azure/event-hubs') as typeof EventHubsSdk);
}

export function storageBlobSdk(): typeof StorageBlobSdk {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use
  return (storageBlob ??= require('@azure/storage-blob') as typeof StorageBlobSdk);
}
