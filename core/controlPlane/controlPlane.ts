import type { DocumentStore } from '../documents/ports';
import { ConsistencyGroups } from './consistencyGroups';
import { EnrollmentService } from './enrollment';
import type { HealthProbe } from './health';
import type { IngestCredentialIssuer } from './ingest';
import { Jobs } from './jobs';
import { MachineAccess } from './machineAccess';
import { MachineAuth } from './machineAuth';
import { MachineKeys, type KeyWrapper } from './machineKeys';
import { Machines } from './machines';
import { Policies } from './policies';
import { ProtectedItems } from './protectedItems';
import { AutoResyncs } from './autoResyncs';
import { Resyncs } from './resyncs';
import { Protection, type JobLauncher } from './protection';
import { Sites } from './sites';

export interface ControlPlaneDeps {
  documents: DocumentStore;
  keyWrapper: KeyWrapper;
  ingest: IngestCredentialIssuer;
  probes: HealthProbe[];
  clock: () => number;
  launcher?: JobLauncher;
}

/** The control plane's services, wired over the ports (built by app/root.ts). */
export interface ControlPlane {
  sites: Sites;
  enrollment: EnrollmentService;
  machines: Machines;
  machineAuth: MachineAuth;
  machineKeys: MachineKeys;
  machineAccess: MachineAccess;
  policies: Policies;
  protectedItems: ProtectedItems;
  protection: Protection;
  resyncs: Resyncs;
  autoResyncs: AutoResyncs;
  jobs: Jobs;
  groups: ConsistencyGroups;
  ingest: IngestCredentialIssuer;
  probes: HealthProbe[];
}

export function createControlPlane(d: ControlPlaneDeps): ControlPlane {
  const sites = new Sites(d.documents, d.clock);
  const machineKeys = new MachineKeys(d.documents, d.keyWrapper, d.clock);
  const machines = new Machines(d.documents, d.clock);
  const policies = new Policies(d.documents, d.clock);
  const protectedItems = new ProtectedItems(d.documents, d.clock);
  const jobs = new Jobs(d.documents, d.clock);
  const resyncs = new Resyncs(d.documents, machines, protectedItems, jobs, d.clock, d.launcher);
  return {
    sites,
    enrollment: new EnrollmentService(d.documents, sites, machineKeys, d.clock),
    machines,
    machineAuth: new MachineAuth(d.documents),
    machineKeys,
    machineAccess: new MachineAccess(d.documents, machineKeys, d.clock),
    policies,
    protectedItems,
    protection: new Protection(machines, policies, protectedItems, jobs, d.clock, d.launcher),
    resyncs,
    autoResyncs: new AutoResyncs(d.documents, resyncs, d.clock),
    jobs,
    groups: new ConsistencyGroups(d.documents, machines, d.clock),
    ingest: d.ingest,
    probes: d.probes,
  };
}
