// The last-writer-wins interval map lives in core: the hydrator merges waiting batches with it.
export {
  IntervalMap,
  toExtents,
  type Extent,
  type Piece,
  type PieceSource,
} from '../../core/disk/intervalMap';
