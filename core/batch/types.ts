export type Codec = 'none' | 'zstd' | 'lz4';
export type Consistency = 'crash' | 'app';

export interface BatchBookmark {
  id: string;
  consistency: Consistency;
  /** Consistency group whose members share this bookmark id. */
  groupId?: string;
  /** A timed group cut that held the machine's writes (docs/consistencyGroups.md). */
  barrier?: boolean;
  /** ISO 8601, when the agent cut it. */
  createdAt: string;
}

/** One extent as described in the header; `at`/`encodedLength` locate its bytes in the plaintext. */
export interface ExtentHeader {
  offset: number;
  length: number;
  kind: 'data' | 'zero';
  /** sha256 (hex) of the plain extent data; data extents only. */
  sha256?: string;
  codec: Codec;
  at: number;
  encodedLength: number;
}

export interface BatchHeader {
  v: 1;
  machineId: string;
  diskId: string;
  generation: number;
  seq: number;
  baseSeq?: number;
  bookmark?: BatchBookmark;
  diskSize: number;
  extents: ExtentHeader[];
  cipher: 'aes-256-gcm';
  keyId: string;
  /** 96-bit GCM nonce, hex; random per envelope. */
  nonce: string;
  /**
   * 'to-site': a reverse batch (Azure disk → site, failback). Authenticated with the header, so
   * a forward batch can never be replayed onto the site disk, nor a reverse one into a replica.
   */
  direction?: 'to-site';
}

/** What the caller of encodeBatch decides; the rest of the header is derived. */
export type BatchHeaderInput = Omit<BatchHeader, 'v' | 'extents' | 'cipher' | 'nonce'>;

export type ExtentInput =
  | { kind: 'data'; offset: number; data: Uint8Array }
  | { kind: 'zero'; offset: number; length: number };

export type DecodedExtent =
  | { kind: 'data'; offset: number; length: number; data: Buffer }
  | { kind: 'zero'; offset: number; length: number };

export interface DecodedBatch {
  header: BatchHeader;
  extents: DecodedExtent[];
}

/** Resolves a machine's data key (core port `MachineKeys.getDataKey`). */
export type GetDataKey = (machineId: string, keyId: string) => Promise<Buffer> | Buffer;
