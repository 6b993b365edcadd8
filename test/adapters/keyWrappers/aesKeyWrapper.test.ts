import { randomBytes } from 'node:crypto';
import { AesKeyWrapper } from '../../../core/controlPlane/machineKeys';
import { keyWrapperContract } from './contract';

keyWrapperContract('AesKeyWrapper (HAVEN_KEK)', async () => ({
  wrapper: new AesKeyWrapper(randomBytes(32)),
}));
