/** The batch format shared by the agent (encode) and the cloud (ingest, hydrate): see docs/conventions.md. */
export * from './constants';
export * from './types';
export { encodeBatch, type EncodeOptions } from './encodeBatch';
export { decodeBatch } from './decodeBatch';
export {
  peekHeader,
  peekHeaderPrefix,
  headerPrefixLength,
  splitEnvelope,
  ciphertextLength,
  dataBytes,
} from './header';
export { validateHeader } from './validateHeader';
export {
  type BatchRef,
  incomingContainerOf,
  claimLocation,
  STAGING_CONTAINER,
  claimBlobPath,
  stagingBlobName,
  envelopeDigest,
  makeBatchRef,
  isEnvelope,
  parseBatchRef,
  verifyClaimedEnvelope,
} from './claimCheck';
export { DEFAULT_CODEC } from './codec';
