import { describe, expect, it } from 'vitest';
import { serveDiskLogLine } from '../../edge-agent/nbd/serveDisk';
import { redact } from '../../edge-agent/redact';

describe('log redaction', () => {
  it('removes SAS signatures, keys and machine credentials from messages', () => {
    const text =
      'failed https://a.blob.core.windows.net/incoming/m/x?sv=2021&sig=abc%2Fdef&se=1 ' +
      'Endpoint=sb://h/;SharedAccessSignature=SharedAccessSignature sr=x&sig=zzz&se=1&skn=k;EntityPath=e ' +
      'SharedAccessKey=secretkey; Bearer hvm.m-1.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA';
    const r = redact(text);
    expect(r).not.toMatch(/abc|zzz|secretkey|AAAAAAAAAAAAAAAAAAAA/);
    expect(r).toMatch(/sig=REDACTED/);
  });

  it('serve-disk redacts its log lines too (sender errors quote SAS URLs and credentials)', () => {
    const line = serveDiskLogLine('send failed', {
      error: 'PUT https://a.blob.core.windows.net/in-m/x?sv=1&sig=SECRETSIG&se=1 403',
      auth: 'Bearer hvm.m-1.BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB',
      token: 'hvt.t-1.CCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCCC',
    });
    expect(line).toMatch(/send failed/);
    expect(line).not.toMatch(/SECRETSIG|BBBBBBBBBBBBBBBBBBBB|CCCCCCCCCCCCCCCCCCCC/);
  });
});
