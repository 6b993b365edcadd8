import { createDecipheriv, createHash } from 'node:crypto';
import { integrity, isHavenError, validation } from '../errors';
import { decompress } from './codec';
import { DATA_KEY_BYTES, GCM_TAG_BYTES } from './constants';
import { splitEnvelope } from './header';
import type { DecodedBatch, DecodedExtent, GetDataKey } from './types';

export interface DecodeOptions {
  /**
   * Decrypt over the envelope's own bytes, which are then the plaintext (the caller must not use
   * `buf` afterwards, not even on a failure). Spares a batch-sized output buffer: fresh memory
   * costs more than the decryption itself on some VMs (~11 µs a page where it is first touched).
   */
  inPlace?: boolean;
}

/** Decryption pieces when in place: small outputs come from (and go back to) the heap. */
const IN_PLACE_PIECE = 64 * 1024;

/**
 * Opens an envelope: frames and validates the header, fetches the machine's data key by the
 * header's (machineId, keyId), checks the GCM tag over header (AAD) and payload, then
 * decompresses each data extent and checks its length and sha256. Any mismatch throws
 * HavenError 'integrity' (bytes are not what they claim) or 'validation' (a header that
 * breaks the contract); nothing is returned before the tag has been verified.
 */
export async function decodeBatch(
  buf: Uint8Array,
  getKey: GetDataKey,
  opts: DecodeOptions = {},
): Promise<DecodedBatch> {
  const { headerBytes, header, ciphertext, tag } = splitEnvelope(buf);
  const key = await getKey(header.machineId, header.keyId);
  if (!key || key.length !== DATA_KEY_BYTES) {
    throw validation(
      `The data key '${header.keyId}' of machine ${header.machineId} is not a ${DATA_KEY_BYTES}-byte key.`,
    );
  }
  let plaintext: Buffer;
  try {
    const d = createDecipheriv('aes-256-gcm', key, Buffer.from(header.nonce, 'hex'), {
      authTagLength: GCM_TAG_BYTES,
    });
    d.setAAD(headerBytes);
    d.setAuthTag(tag);
    if (opts.inPlace) {
      // GCM is a stream mode: each piece's output has the piece's length and goes where it was.
      for (let at = 0; at < ciphertext.length; at += IN_PLACE_PIECE)
        d.update(ciphertext.subarray(at, at + IN_PLACE_PIECE)).copy(ciphertext, at);
      d.final();
      plaintext = ciphertext;
    } else {
      const body = d.update(ciphertext);
      const tail = d.final();
      plaintext = tail.length ? Buffer.concat([body, tail]) : body;
    }
  } catch (e) {
    if (isHavenError(e)) throw e;
    throw integrity(
      `Batch ${header.machineId}/${header.diskId} g${header.generation} seq ${header.seq} fails authentication (tampered, truncated or wrong key).`,
      {
        machineId: header.machineId,
        diskId: header.diskId,
        generation: header.generation,
        seq: header.seq,
      },
    );
  }
  const extents: DecodedExtent[] = header.extents.map((e, i) => {
    if (e.kind === 'zero') return { kind: 'zero', offset: e.offset, length: e.length };
    const data = decompress(e.codec, plaintext.subarray(e.at, e.at + e.encodedLength), e.length);
    if (createHash('sha256').update(data).digest('hex') !== e.sha256) {
      throw integrity(
        `Extent ${i} (offset ${e.offset}) of batch seq ${header.seq} does not match its sha256.`,
        {
          diskId: header.diskId,
          seq: header.seq,
        },
      );
    }
    return { kind: 'data', offset: e.offset, length: e.length, data };
  });
  return { header, extents };
}
