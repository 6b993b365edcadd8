import { DIRECT_MIN_BYTES, type AlignedSlabs } from './alignedSlabs';
import type { JournalAppender } from './journalAppender';
import { NO_RELEASE } from './journalTypes';
import { MemoryRecords, type HeldRecord } from './memoryRecords';

/**
 * Large WRITE payloads journaled O_DIRECT: the memory they are received in (aligned slabs),
 * their records (payload in the segment's payload file), and the records whose payload is still
 * in memory for the drain. Absent slabs (switched off, or a filesystem that refuses O_DIRECT):
 * every payload goes through the page cache as before.
 */
export class DirectPayloads {
  private readonly inMemory = new MemoryRecords();
  /** Payload bytes journaled O_DIRECT so far. */
  journaledBytes = 0;

  constructor(
    private readonly slabs: AlignedSlabs | undefined,
    private readonly appender: JournalAppender,
  ) {}

  /**
   * Memory to receive a payload of `length` bytes in, held until the write that carries it
   * `adopt`s it; undefined: any buffer.
   */
  buffer(length: number): Buffer | undefined {
    return this.slabs?.take(length);
  }

  /** The release of the receiver's hold on payload memory (a no-op for any other buffer). */
  adopt(data: Uint8Array): () => void {
    return this.slabs?.adopt(data) ?? NO_RELEASE;
  }

  /** Appends the write O_DIRECT if its payload is in our memory; undefined when it is not. */
  append(diskIndex: number, offset: number, data: Buffer): number | undefined {
    if (data.length < DIRECT_MIN_BYTES || !this.slabs?.owns(data)) return undefined;
    const m = this.appender.appendDirect(diskIndex, offset, data);
    this.journaledBytes += data.length;
    this.inMemory.push({ record: m, release: this.slabs.pin(data) });
    return m.lsn;
  }

  /**
   * The in-memory records up to `lsn` (in the file by then), for the drain, with their holds:
   * release each once nothing reads its payload any more.
   */
  take(lsn: number): HeldRecord[] {
    return this.inMemory.take(lsn);
  }

  close(): void {
    this.slabs?.close();
  }
}
