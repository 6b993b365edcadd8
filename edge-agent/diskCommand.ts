import { HavenError } from '../core/errors';
import type { AgentDisk } from './changeSource';
import type { CliContext } from './cliContext';
import { ControlPlaneClient } from './controlPlaneClient';
import { diskFacts, diskIdFor } from './diskInfo';

/** `haven-agent disk list` and `disk add PATH` (a known disk with a new size starts a resync). */
export async function diskCommand({ a, state, print }: CliContext): Promise<number> {
  const sub = a._[1];
  if (sub === 'list') {
    const disks = await state.disks();
    print(
      disks.map((d) => `${d.id}\t${d.path}\t${d.sizeBytes}\tgen ${d.generation}`).join('\n') ||
        '(no disks)',
      { disks },
    );
    return 0;
  }
  if (sub !== 'add' || !a._[2])
    throw new HavenError('validation', 'Usage: haven-agent disk add PATH');
  const id = await state.identity();
  const facts = await diskFacts(a._[2]);
  const diskId = diskIdFor(facts);
  const disks = await state.disks();
  // The id hashes the size, so a resized disk is found by its path: same disk, new size.
  const known = disks.find((d) => d.id === diskId) ?? disks.find((d) => d.path === facts.path);
  const disk: AgentDisk = known ?? {
    id: diskId,
    path: facts.path,
    sizeBytes: facts.sizeBytes,
    sectorSize: facts.sectorSize,
    generation: 1,
  };
  // A known disk with a new size is a resync: the control plane answers its new generation
  // (the next run drops the old generation's unsent batches and starts a fresh index).
  const cloud = await new ControlPlaneClient(id.api, id.credential).addDisk(id.machineId, {
    id: disk.id,
    sizeBytes: facts.sizeBytes,
    logicalSectorSize: disk.sectorSize,
  });
  const resized = !!known && known.sizeBytes !== facts.sizeBytes;
  disk.sizeBytes = facts.sizeBytes;
  disk.generation = Math.max(disk.generation, cloud?.generation ?? 1);
  if (!known || resized) await state.saveDisks([...disks.filter((d) => d !== known), disk]);
  print(
    `Disk ${disk.id} (${facts.path}, ${facts.sizeBytes} bytes, ${facts.sectorSize}-byte sectors) ${resized ? `resized: resyncing as generation ${disk.generation}` : known ? 'was already added' : 'added'}.`,
    disk,
  );
  return 0;
}
