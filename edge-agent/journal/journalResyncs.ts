import type { JournalAppender } from './journalAppender';
import type { JournalDisks } from './journalDisks';
import type { JournalParts } from './openJournalParts';
import { ALL_DISKS, RecordType } from './records';

/**
 * Where the journal stops covering changes and where it covers them again (rule 5): journaling
 * stops at the capacity and resumes with a `Resync` record once there is room, and a disk is
 * sent again from its image at a `Resync` of its own (the change source asks, or the control
 * plane starts a new generation). The dirty bitmaps say what the scan sends.
 */
export class JournalResyncs {
  constructor(
    private readonly p: Pick<JournalParts, 'overflow' | 'segs' | 'log'>,
    private readonly appender: JournalAppender,
    private readonly served: JournalDisks,
  ) {}

  /** Would a change of `bytes` payload fit? If not, journaling stops (overflow). */
  admit(bytes: number): boolean {
    const { overflow } = this.p;
    if (overflow.stopped) return false;
    if (overflow.fits(this.p.segs.retainedBytes(), bytes)) return true;
    this.appender.flushBatch();
    // The Overflow record follows once the image writes in flight are done (beforeUnjournaled).
    overflow.stopped = true;
    this.p.log(
      'journal: capacity reached; tracking changes in dirty bitmaps until the sender catches up',
    );
    return false;
  }

  /** Resume journaling once there is room again and no unjournaled write is in flight. */
  maybeResume(): boolean {
    if (!this.p.overflow.tryResume(this.p.segs.retainedBytes())) return false;
    this.appender.append(RecordType.Resync, ALL_DISKS, 0, 0);
    this.p.log('journal: resumed; dirty blocks will be sent by the scan path');
    this.appender.notify();
    return true;
  }

  /**
   * Asks the reader to send [the dirty-bitmap blocks of] a disk again from its image, at this
   * point of the stream. While journaling is stopped the resume record will cover it.
   */
  requestResync(diskIndex: number): void {
    if (this.p.overflow.stopped) return;
    this.appender.append(RecordType.Resync, diskIndex, 0, 0);
    this.appender.notify();
  }

  /**
   * The whole disk goes again from its image (the control plane started a new generation: a
   * fresh replica that has none of it). The bits are durable before the Resync record, so a
   * crash before the scan ends still resends everything.
   */
  resyncWholeDisk(diskIndex: number): void {
    const bm = this.served.dirtyOf(diskIndex);
    bm.markAll();
    bm.persistSync();
    this.requestResync(diskIndex);
  }
}
