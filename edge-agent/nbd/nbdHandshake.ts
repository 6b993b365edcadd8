import type { ByteQueue } from './byteQueue';
import type { BlockDevice } from './blockDevice';
import { negotiateOption, type ExportCatalog } from './nbdOptions';
import * as P from './protocol';

const MAX_OPTION_BYTES = 64 * 1024;

/** What one step of the handshake leaves the connection to do. */
export type HandshakeStep =
  | { kind: 'more' } // needs more bytes
  | { kind: 'next' } // parsed one unit; go on
  | { kind: 'hangUp'; reason?: string }
  | { kind: 'transmit'; device: BlockDevice };

/**
 * The fixed-newstyle handshake after the server's greeting: the client's flags, then options
 * until one picks an export (`NBD_OPT_GO`, `NBD_OPT_EXPORT_NAME`) or ends the connection. The
 * answer to each option is `negotiateOption`'s; this is the framing around it.
 */
export class NbdHandshake {
  private phase: 'clientFlags' | 'options' = 'clientFlags';
  private noZeroes = false;
  private pendingOption?: { opt: number; len: number };

  constructor(
    private readonly q: ByteQueue,
    private readonly server: ExportCatalog,
    private readonly send: (b: Buffer) => void,
  ) {}

  /** Parses one unit of input. Throws on a malformed option (a protocol error). */
  step(): HandshakeStep {
    if (this.phase === 'clientFlags') {
      if (this.q.length < 4) return { kind: 'more' };
      const flags = this.q.take(4).readUInt32BE(0);
      if (flags & ~(P.FLAG_C_FIXED_NEWSTYLE | P.FLAG_C_NO_ZEROES))
        return { kind: 'hangUp', reason: 'unknown client flags, closing' };
      this.noZeroes = (flags & P.FLAG_C_NO_ZEROES) !== 0;
      this.phase = 'options';
      return { kind: 'next' };
    }
    if (!this.pendingOption) {
      if (this.q.length < 16) return { kind: 'more' };
      const head = this.q.take(16);
      if (head.readBigUInt64BE(0) !== P.IHAVEOPT) throw new Error('bad option magic');
      const opt = head.readUInt32BE(8);
      const len = head.readUInt32BE(12);
      if (len > MAX_OPTION_BYTES) throw new Error(`option ${opt} too long (${len})`);
      this.pendingOption = { opt, len };
    }
    const p = this.pendingOption;
    if (this.q.length < p.len) return { kind: 'more' };
    this.pendingOption = undefined;
    const { replies, next } = negotiateOption(
      p.opt,
      this.q.take(p.len),
      this.server,
      this.noZeroes,
    );
    for (const r of replies) this.send(r);
    if (next.kind === 'hangUp') return { kind: 'hangUp', reason: next.reason };
    if (next.kind === 'transmit') return { kind: 'transmit', device: next.device };
    return { kind: 'next' };
  }
}
