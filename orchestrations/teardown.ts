import type { DeployedVm } from '../core/recovery/model';
import { Step } from '../core/recovery/operations';
import { teardownWaves } from '../core/recovery/teardown';
import type { Gen, RecoverySaga } from './recoverySaga';

/** Deletes a recovered VM and what was made for it (cleanup, cancel): the VM, then the rest in waves. */
export function* teardown(
  s: RecoverySaga,
  vm: DeployedVm | undefined,
  leftovers: string[] = [],
): Gen<void> {
  const waves = vm ? teardownWaves(vm, leftovers) : [[], [], leftovers];
  yield* s.step(
    Step.deleteVm,
    function* () {
      yield* s.all(waves[0]!.map((id) => s.del(id)));
    },
    20,
  );
  yield* s.step(
    Step.deleteResources,
    function* () {
      for (const wave of waves.slice(1)) yield* s.all(wave.map((id) => s.del(id)));
    },
    60,
  );
}
