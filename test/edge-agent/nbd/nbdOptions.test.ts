import { describe, expect, it } from 'vitest';
import { negotiateOption, TRANSMISSION_FLAGS } from '../../../edge-agent/nbd/nbdOptions';
import * as P from '../../../edge-agent/nbd/protocol';
import type { BlockDevice, NbdExport } from '../../../edge-agent/nbd/blockDevice';
import { RawNbd } from './rawNbd';

const device = { size: 1 << 20 } as BlockDevice;
const catalog = {
  lookup: (n: string): NbdExport | undefined => (n === 'd' ? { name: 'd', device } : undefined),
  list: (): NbdExport[] => [{ name: 'd', device }],
};
const goData = RawNbd.goData;
const replyType = (b: Buffer) => b.readUInt32BE(12);

describe('NBD option negotiation', () => {
  it('GO on a known export: INFO_EXPORT with size and transmission flags, block sizes, ACK, then transmission', () => {
    const { replies, next } = negotiateOption(P.OPT_GO, goData('d'), catalog, true);
    expect(replies.map(replyType)).toEqual([P.REP_INFO, P.REP_INFO, P.REP_ACK]);
    const info = replies[0]!.subarray(20);
    expect(info.readUInt16BE(0)).toBe(P.INFO_EXPORT);
    expect(Number(info.readBigUInt64BE(2))).toBe(1 << 20);
    expect(info.readUInt16BE(10)).toBe(TRANSMISSION_FLAGS);
    expect(TRANSMISSION_FLAGS & P.TFLAG_SEND_FLUSH).not.toBe(0);
    expect(next).toEqual({ kind: 'transmit', device });
  });

  it('INFO answers the same without entering transmission; NAME is sent when asked', () => {
    const { replies, next } = negotiateOption(
      P.OPT_INFO,
      goData('d', [P.INFO_NAME]),
      catalog,
      true,
    );
    expect(replies.map(replyType)).toEqual([P.REP_INFO, P.REP_INFO, P.REP_INFO, P.REP_ACK]);
    expect(replies[1]!.subarray(22).toString()).toBe('d');
    expect(next.kind).toBe('continue');
  });

  it('hostile or unknown requests get an error reply and change nothing', () => {
    const bad = [
      negotiateOption(P.OPT_GO, Buffer.alloc(3), catalog, true),
      negotiateOption(P.OPT_GO, Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0]), catalog, true),
      negotiateOption(P.OPT_GO, Buffer.concat([goData('d'), Buffer.alloc(1)]), catalog, true),
      negotiateOption(P.OPT_LIST, Buffer.alloc(1), catalog, true),
    ];
    for (const r of bad) {
      expect(r.replies.map(replyType)).toEqual([P.REP_ERR_INVALID >>> 0]);
      expect(r.next.kind).toBe('continue');
    }
    const unknown = negotiateOption(P.OPT_GO, goData('nope'), catalog, true);
    expect(unknown.replies.map(replyType)).toEqual([P.REP_ERR_UNKNOWN >>> 0]);
    expect(negotiateOption(99, Buffer.alloc(0), catalog, true).replies.map(replyType)).toEqual([
      P.REP_ERR_UNSUP >>> 0,
    ]);
  });

  it('EXPORT_NAME of an unknown export closes the connection (the option has no error reply)', () => {
    const r = negotiateOption(P.OPT_EXPORT_NAME, Buffer.from('nope'), catalog, false);
    expect(r.replies).toEqual([]);
    expect(r.next.kind).toBe('hangUp');
    const ok = negotiateOption(P.OPT_EXPORT_NAME, Buffer.from('d'), catalog, false);
    expect(ok.replies[0]!.length).toBe(134);
    expect(ok.next.kind).toBe('transmit');
  });
});
