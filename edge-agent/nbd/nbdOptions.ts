import type { BlockDevice, NbdExport } from './blockDevice';
import * as P from './protocol';

export const TRANSMISSION_FLAGS =
  P.TFLAG_HAS_FLAGS |
  P.TFLAG_SEND_FLUSH |
  P.TFLAG_SEND_FUA |
  P.TFLAG_SEND_TRIM |
  P.TFLAG_SEND_WRITE_ZEROES |
  // Safe: every connection reaches the same in-process device, and FLUSH makes durable
  // everything completed on any connection (one journal, one backing fd).
  P.TFLAG_CAN_MULTI_CONN;

export interface ExportCatalog {
  lookup(name: string): NbdExport | undefined;
  list(): NbdExport[];
}

/** What the handshake does after an option: go on, close, or enter transmission on a device. */
export type OptionNext =
  | { kind: 'continue' }
  | { kind: 'hangUp'; reason?: string }
  | { kind: 'transmit'; device: BlockDevice };

function optionReply(opt: number, type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const h = Buffer.alloc(20);
  h.writeBigUInt64BE(P.OPT_REPLY_MAGIC, 0);
  h.writeUInt32BE(opt, 8);
  h.writeUInt32BE(type >>> 0, 12);
  h.writeUInt32BE(data.length, 16);
  return data.length ? Buffer.concat([h, data]) : h;
}

/** An INFO reply carrying `type` and a string. */
function infoString(type: number, text: string): Buffer {
  const n = Buffer.from(text, 'utf8');
  const b = Buffer.alloc(2 + n.length);
  b.writeUInt16BE(type, 0);
  n.copy(b, 2);
  return b;
}

/**
 * The fixed-newstyle handshake's answer to one option (NBD proto.md): the bytes to send, in
 * order, and what follows. Pure, so hostile option bytes are answered without a socket.
 * (The catalog is not called `exports`: compiled to CommonJS that name would shadow the module.)
 */
export function negotiateOption(
  opt: number,
  data: Buffer,
  catalog: ExportCatalog,
  noZeroes: boolean,
): { replies: Buffer[]; next: OptionNext } {
  const invalid = (msg: string) => ({
    replies: [optionReply(opt, P.REP_ERR_INVALID, Buffer.from(msg))],
    next: { kind: 'continue' } as OptionNext,
  });
  switch (opt) {
    case P.OPT_EXPORT_NAME: {
      const name = data.toString('utf8');
      const exp = catalog.lookup(name);
      // EXPORT_NAME has no error reply: the spec says close the connection.
      if (!exp)
        return { replies: [], next: { kind: 'hangUp', reason: `unknown export '${name}'` } };
      const r = Buffer.alloc(noZeroes ? 10 : 134);
      r.writeBigUInt64BE(BigInt(exp.device.size), 0);
      r.writeUInt16BE(TRANSMISSION_FLAGS, 8);
      return { replies: [r], next: { kind: 'transmit', device: exp.device } };
    }
    case P.OPT_ABORT:
      return { replies: [optionReply(opt, P.REP_ACK)], next: { kind: 'hangUp' } };
    case P.OPT_LIST: {
      if (data.length !== 0) return invalid('NBD_OPT_LIST takes no data');
      const replies: Buffer[] = [];
      for (const e of catalog.list()) {
        const name = Buffer.from(e.name, 'utf8');
        const desc = Buffer.from(e.description ?? '', 'utf8');
        const b = Buffer.alloc(4 + name.length + desc.length);
        b.writeUInt32BE(name.length, 0);
        name.copy(b, 4);
        desc.copy(b, 4 + name.length);
        replies.push(optionReply(opt, P.REP_SERVER, b));
      }
      replies.push(optionReply(opt, P.REP_ACK));
      return { replies, next: { kind: 'continue' } };
    }
    case P.OPT_INFO:
    case P.OPT_GO: {
      if (data.length < 6) return invalid('malformed request');
      const nameLen = data.readUInt32BE(0);
      if (4 + nameLen + 2 > data.length) return invalid('malformed request');
      const name = data.subarray(4, 4 + nameLen).toString('utf8');
      const nInfo = data.readUInt16BE(4 + nameLen);
      if (4 + nameLen + 2 + nInfo * 2 !== data.length) return invalid('malformed request');
      const wanted = new Set<number>();
      for (let i = 0; i < nInfo; i++) wanted.add(data.readUInt16BE(4 + nameLen + 2 + i * 2));
      const exp = catalog.lookup(name);
      if (!exp) {
        return {
          replies: [optionReply(opt, P.REP_ERR_UNKNOWN, Buffer.from(`no export named '${name}'`))],
          next: { kind: 'continue' },
        };
      }
      const info = Buffer.alloc(12);
      info.writeUInt16BE(P.INFO_EXPORT, 0);
      info.writeBigUInt64BE(BigInt(exp.device.size), 2);
      info.writeUInt16BE(TRANSMISSION_FLAGS, 10);
      const replies = [optionReply(opt, P.REP_INFO, info)];
      if (wanted.has(P.INFO_NAME))
        replies.push(optionReply(opt, P.REP_INFO, infoString(P.INFO_NAME, exp.name)));
      if (wanted.has(P.INFO_DESCRIPTION) && exp.description)
        replies.push(optionReply(opt, P.REP_INFO, infoString(P.INFO_DESCRIPTION, exp.description)));
      // Always sent: the journal works in sectors, so clients should too. Unaligned requests
      // from clients that ignore it are still handled (the splitter widens them).
      const bs = Buffer.alloc(14);
      bs.writeUInt16BE(P.INFO_BLOCK_SIZE, 0);
      bs.writeUInt32BE(P.SECTOR, 2);
      bs.writeUInt32BE(4096, 6);
      bs.writeUInt32BE(P.MAX_PAYLOAD, 10);
      replies.push(optionReply(opt, P.REP_INFO, bs), optionReply(opt, P.REP_ACK));
      return {
        replies,
        next: opt === P.OPT_GO ? { kind: 'transmit', device: exp.device } : { kind: 'continue' },
      };
    }
    default:
      return {
        replies: [optionReply(opt, P.REP_ERR_UNSUP, Buffer.from(`option ${opt} not supported`))],
        next: { kind: 'continue' },
      };
  }
}
