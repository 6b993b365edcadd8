import { pipeline, Transform, type Readable } from 'node:stream';
import { RestError, type PipelineResponse } from '@azure/core-rest-pipeline';

/**
 * Gives up a download's body once no byte of it has come for `idleMs`: the answer's headers
 * are bounded by the try's request timeout, but a peer that sends them and part of the body,
 * then nothing on a connection it keeps open, held the read (and the batch or lease behind
 * it) until the host's function timeout. Idle, not total: each byte that comes restarts the
 * wait, so a body that comes slowly but steadily arrives whole.
 *
 * Given up as a network timeout (a `RestError` with code ETIMEDOUT, as an unanswered try is):
 * the SDK's download stream (`RetriableReadableStream`) then asks for the rest on another
 * connection, from the byte it got to and only if the blob's ETag is unchanged, up to its
 * `maxRetryRequests`; past them the read fails, and the failure maps to a transient error.
 * Replaces the response's body with the bounded one (the connection is destroyed with it).
 */
export function boundDownloadIdle(response: PipelineResponse, idleMs: number): void {
  const body = response.readableStreamBody as Readable | undefined;
  if (!body) return;
  const bounded = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      timer.refresh();
      done(null, chunk);
    },
    flush(done) {
      clearTimeout(timer);
      done();
    },
    destroy(err, done) {
      clearTimeout(timer);
      done(err);
    },
  });
  const timer = setTimeout(function idle() {
    // Bytes held for a reader that is not reading: that wait is the reader's, not the peer's.
    if (bounded.readableLength > 0 || bounded.writableLength > 0) return void timer.refresh();
    const message = `storage sent no byte of the download for ${idleMs} ms`;
    bounded.destroy(new RestError(message, { code: 'ETIMEDOUT', request: response.request }));
  }, idleMs);
  // The body's own failures (a reset connection) reach the reader through the bounded stream.
  pipeline(body, bounded, () => {});
  response.readableStreamBody = bounded;
}
