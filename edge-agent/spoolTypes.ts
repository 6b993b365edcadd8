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
}

export const keyOf = (k: SpoolKey) => `${k.diskId}/${k.generation}`;
