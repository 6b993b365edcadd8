import { describe, expect, it } from 'vitest';
import { redact } from '../../edge-agent/cli';

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
});
