import type { Root } from '../../app/root';
import type { RecoveryTarget } from '../../core/recovery/ports';

/** The recovery target of the root, when the deployment configured one (HAVEN_ARM_*). */
export const targetOfRoot = (root: Root): RecoveryTarget | undefined => root.recoveryTarget;
