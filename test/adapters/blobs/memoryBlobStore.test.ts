import { MemoryBlobStore } from '../../../adapters/blobs/memoryBlobStore';
import { blobStoreContract } from './contract';

blobStoreContract('memory', () => new MemoryBlobStore());
