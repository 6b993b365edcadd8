/**
 * Limits of the batch format (docs/conventions.md "Batches"). Both sides enforce them: the
 * agent so it never produces a batch the cloud refuses, the cloud so a hostile or corrupted
 * envelope is refused before it costs memory or time.
 */

/** Envelope magic, first 4 bytes of every batch. */
export const BATCH_MAGIC = Buffer.from('HVB1', 'ascii');
export const BATCH_VERSION = 1;

/** Sector alignment of every offset and length (page blob pages). */
export const BATCH_ALIGN = 512;

/**
 * Largest envelope that rides inside an Event Hubs event. Standard tier takes 1 MB per event
 * including AMQP overhead; 900 KiB leaves room for properties and annotations.
 */
export const MAX_INLINE_EVENT_BYTES = 900 * 1024;

/**
 * Largest sum of *plain* data-extent bytes in one batch. Every batch costs a fixed number of
 * storage requests on its way (claim-check upload, ingest's header read, staging, hydrate's
 * reads, the deletes), so an initial sync of large batches costs a fraction of the requests of
 * small ones; a claim-check blob can be far larger than an Event Hubs event. The hydrator cuts
 * the merged extents into page writes of ≤ 4 MiB. Zero extents carry no bytes and are not
 * counted (they become clearPages ranges). Was 4 MiB: such batches are still accepted.
 */
export const MAX_BATCH_BYTES = 32 * 1024 * 1024;

/**
 * Largest sum of plain data-extent bytes of a batch that rides inline in an event. Ingest
 * decodes inline batches (several at once) to verify them; a highly compressible batch of
 * MAX_BATCH_BYTES could fit an event, so larger ones go as claim checks, which hydrate decodes.
 */
export const MAX_INLINE_DATA_BYTES = 4 * 1024 * 1024;

/** Extents per batch: bounds header size and per-batch work (a 4 KiB write journal fills ~1024). */
export const MAX_EXTENTS_PER_BATCH = 4096;

/** Header JSON bytes: ~170 bytes per extent × MAX_EXTENTS_PER_BATCH, with room to spare. */
export const MAX_HEADER_BYTES = 1024 * 1024;

/** Fixed framing: magic (4) + header length (4) before the header; GCM tag (16) at the end. */
export const ENVELOPE_PREFIX_BYTES = 8;
export const GCM_TAG_BYTES = 16;
export const GCM_NONCE_BYTES = 12;
export const DATA_KEY_BYTES = 32;

/** Largest envelope either side accepts (compressed extents are never larger than plain ones). */
export const MAX_ENVELOPE_BYTES =
  ENVELOPE_PREFIX_BYTES + MAX_HEADER_BYTES + MAX_BATCH_BYTES + GCM_TAG_BYTES;

/**
 * Largest protected disk: a page blob holds at most 8 TiB, and the replica needs the size
 * rounded up to 1 MiB plus a 512-byte VHD footer.
 */
export const MAX_DISK_BYTES = 8 * 1024 ** 4 - 1024 * 1024;

/** Machine, disk, key, bookmark and group ids: they appear in blob names, so a safe charset. */
export const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Event content types (Event Hubs `contentType`). */
export const BATCH_CONTENT_TYPE = 'application/vnd.haven.batch';
export const CLAIM_CONTENT_TYPE = 'application/vnd.haven.claim+json';
