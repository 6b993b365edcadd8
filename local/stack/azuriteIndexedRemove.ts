import { azuriteLoki, type LokiCollection } from './azuriteBlobLookup';

/**
 * Removing documents by a query (`findAndRemove`, which is how Azurite deletes a blob) goes
 * through LokiJS's batch removal, which rebuilds every binary index of the collection from
 * scratch: a sort of all its documents per index (the blob collection has four), snapshots
 * included. A drain deletes each applied staged batch and its payload, so with thousands of
 * blobs and snapshots in the emulator that was 7 % of Azurite's busy time in a 90 s RPO bench
 * run at 10 MB/s, on the two cores it shares with everything it stands in for.
 *
 * LokiJS's own single-document `remove` updates the indices in place (a splice per index). A
 * batch of a few documents is removed that way, one at a time: the same documents leave, and
 * the indices stay sorted (the contract test checks both against LokiJS's own batch removal).
 * Larger batches keep LokiJS's rebuild, which is cheaper for them. It applies to every collection
 * of the emulator: the same removal, by LokiJS's own code, whatever the collection.
 */
export const FEW = 16;

type RemoveBatch = (this: LokiCollection, positions: number[]) => unknown;

/** A `removeBatchByPositions` that removes a few documents one by one, the rest as `original`. */
export function fewOneByOne(original: RemoveBatch): RemoveBatch {
  return function (this: LokiCollection, positions: number[]) {
    if (positions.length > FEW || !this.adaptiveBinaryIndices) {
      return original.call(this, positions);
    }
    // Documents first: every removal shifts the positions after it.
    const docs = positions.map((p) => this.data[p]!);
    for (const doc of docs) this.remove(doc);
    return undefined;
  };
}

/** Installs `fewOneByOne` on LokiJS in Azurite's process. */
export function installIndexedRemove(): void {
  const proto = azuriteLoki().Collection.prototype;
  if (typeof proto.removeBatchByPositions !== 'function' || typeof proto.remove !== 'function') {
    throw new Error('LokiJS has no Collection.removeBatchByPositions: review azuriteIndexedRemove');
  }
  proto.removeBatchByPositions = fewOneByOne(proto.removeBatchByPositions);
}
