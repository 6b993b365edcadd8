import type { AheadMark } from './aheadMarks';
import type { RecordHeader } from './records';

/** The journal's shapes and constants, shared by the journal, its reader and its recovery scan. */
export interface JournalOptions {
  dir: string;
  machineId?: string;
  /** Segment rotation size. */
  segmentBytes?: number;
  /** Unreleased bytes above which journaling stops (overflow → dirty bitmaps). */
  capacityBytes?: number;
  /** Journaling resumes when unreleased bytes fall below this. */
  resumeBelowBytes?: number;
  /** Dirty-bitmap block size. */
  bitmapBlock?: number;
  log?: (msg: string) => void;
  /** Override for tests (host-crash detection). */
  bootId?: string;
  /**
   * Journal large WRITE payloads O_DIRECT from aligned memory (`payloadBuffer`), keeping the
   * journal's copy out of the page cache (default on where the filesystem takes O_DIRECT).
   */
  directPayloads?: boolean;
  /** How such a payload is written (default: `write(2)` on an O_DIRECT descriptor, thread pool). */
  writeDirect?: (fd: number, payload: Buffer, pos: number) => Promise<void>;
  /**
   * Fill payload memory before it is reused (default false): a reader that outlived its hold
   * on it then reads garbage, which the tests that stream through the splitter would see.
   */
  poisonReusedPayloads?: boolean;
  /**
   * Zero-fill the next segment in the background when none can be recycled (default false:
   * in steady state released segments are recycled for free; zero-filling a growing journal
   * costs one more write of every journal byte, measured to halve sequential throughput).
   */
  preallocate?: boolean;
  /**
   * Released journal bytes kept until the disks are synced (a FLUSH syncs the journal only, so
   * a segment is dropped only once a disk sync covers its records): the disks are fdatasync'ed
   * when this much is held back, or half the room left in the journal if that is less
   * (default 2 segments, what is kept as spares once released; while large writes stream
   * through O_DIRECT, a quarter of the capacity).
   */
  diskSyncLagBytes?: number;
}

export interface DiskInfo {
  index: number;
  diskId: string;
  size: number;
  /** Path of the image / device the splitter serves (the scan path reads it). */
  path: string;
}

export interface JournalState {
  v: 1;
  machineId: string;
  bootId: string;
  open: boolean;
  /** Records with lsn ≤ releasedLsn were handed downstream durably and may be deleted. */
  releasedLsn: number;
  /**
   * Records with lsn ≤ this are durable on their disks (an fdatasync of every served disk
   * covered them); a host crash redoes the later ones onto the disks (absent: 0).
   */
  diskSyncedLsn?: number;
  disks: Array<Omit<DiskInfo, 'index'>>;
}

export interface Segment {
  firstLsn: number;
  path: string;
  size: number;
  /** Bytes in its payload file (FLAG_PAYLOAD_FILE records). */
  payloadBytes?: number;
}

export interface JournalRecord extends RecordHeader {
  /** Segment file and position of the payload (for lazy reads). */
  segmentPath: string;
  payloadPos: number;
  /** The payload, when the reader had it at hand (small records). */
  data?: Buffer;
}

/**
 * A record whose payload the writer still has in memory (journaled O_DIRECT from shared memory,
 * so the file's copy is not in the page cache): a reader in this process, or a thread it was
 * posted to, takes it from there instead of reading it back from the disk.
 */
export interface MemoryRecord extends Omit<JournalRecord, 'data'> {
  /** Where its header is, and where the next record starts, in its segment. */
  pos: number;
  end: number;
  data: Uint8Array;
}

export type RecoveryKind = 'fresh' | 'clean' | 'process-crash' | 'host-crash' | 'journal-lost';

export const SEGMENT_RE = /^seg-(\d{16})\.hvj$/;
/** Intent-log granularity: a host crash resyncs at most the regions written since a FLUSH. */
export const INTENT_REGION = 16 * 1024 * 1024;
/**
 * Most change records a splitter holds journaled but not yet written to its image (one corked
 * batch); after a process crash this many of each disk's last records are re-applied.
 */
export const REDO_RECORDS = 64;

/** Each disk's last REDO_RECORDS records, oldest first. */
export function lastPerDisk(records: JournalRecord[]): JournalRecord[] {
  const seen = new Map<number, number>();
  const out: JournalRecord[] = [];
  for (let i = records.length - 1; i >= 0; i--) {
    const r = records[i]!;
    const n = (seen.get(r.diskIndex) ?? 0) + 1;
    seen.set(r.diskIndex, n);
    if (n <= REDO_RECORDS) out.push(r);
  }
  return out.reverse();
}

/**
 * Holds on payload memory that is reused (see AlignedSlabs): every reader that may still read a
 * payload after its request was answered holds it. Memory not from there: the calls do nothing.
 */
export interface PayloadPins {
  /** One more hold on the payload `b` lies in; call the result (once is enough) to release it. */
  pin(b: Uint8Array): () => void;
}

/** The release of a hold on memory that is never reused (shared: every write asks for one). */
export const NO_RELEASE = (): void => undefined;

/** For memory that is never reused. */
export const NO_PINS: PayloadPins = { pin: () => NO_RELEASE };

/** The journal's tail as its writers see it (SegmentLog; the splitter's image writes wait on it). */
export interface JournalTail {
  /** Writes the corked batch (records before their image writes). */
  flushBatch(): void;
  /** A record is held back (behind a payload being written O_DIRECT). */
  readonly holding: boolean;
  /** Settles once record `lsn` is in the file; undefined when it is. */
  whenWritten(lsn: number): Promise<void> | undefined;
  /**
   * Marks the image write of a record not in the file yet so that it may be issued now, side
   * by side with the record's write; false: it must wait (see AheadMarks).
   */
  ahead(m: AheadMark): boolean;
  /** Holds on payloads an image write reads from while it is in flight. */
  readonly pins: PayloadPins;
}
