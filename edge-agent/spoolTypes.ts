/** A disk generation's batches in the spool. */
export interface SpoolKey {
  diskId: string;
  generation: number;
}

/** Where one sealed batch lies in the spool. */
export interface SpoolEntry extends SpoolKey {
  seq: number;
  segment: number;
  /** Byte position of the envelope within the segment. */
  pos: number;
  length: number;
}

export interface SpoolOptions {
  /** Upper bound on the bytes of live segments; when full, the agent stops taking extents. */
  maxBytes: number;
  segmentBytes?: number;
  /** Envelopes kept in memory after their append, until acknowledged (default 64 MiB). */
  hotBytes?: number;
  /**
   * Sent batches are kept until the control plane confirms them stored in Azure (`confirm`),
   * so one lost after Event Hubs took it can be sent again (`resend`); at most this many bytes
   * of them, the oldest let go beyond it. 0 (default): a batch goes once Event Hubs took it.
   */
  keepSentBytes?: number;
}

/**
 * The agent's spool: sent batches kept until the control plane lists them stored, in at most
 * half of it (the other half always free for what is not sent yet, as before keeping).
 */
export const agentSpoolOptions = (maxBytes: number): SpoolOptions => ({
  maxBytes,
  keepSentBytes: Math.floor(maxBytes / 2),
});

export const keyOf = (k: SpoolKey) => `${k.diskId}/${k.generation}`;

/** A disk generation's key split back (`keyOf`; the generation follows the last slash). */
export function splitKey(key: string): SpoolKey {
  const at = key.lastIndexOf('/');
  return { diskId: key.slice(0, at), generation: Number(key.slice(at + 1)) };
}
