import * as os from 'node:os';
import { AGENT_VERSION, type AgentStatus } from './agentTypes';

/** What the agent tells the control plane every 30 s, from its status. */
export function heartbeatReport(s: AgentStatus): Record<string, unknown> {
  return {
    agentVersion: AGENT_VERSION,
    // The recovered VM keeps the source's address where its subnet allows (recovery settings).
    ipv4: Object.values(os.networkInterfaces())
      .flat()
      .filter((a) => a && a.family === 'IPv4' && !a.internal)
      .map((a) => a!.address)
      .slice(0, 16),
    disks: s.disks.map((d) => ({
      id: d.id,
      state: d.state === 'idle' ? 'replicating' : d.state,
      backlogBytes: d.spoolPendingBytes,
      lastSeq: d.lastAckedSeq,
      generation: d.generation,
    })),
    // Backlog, send rate and the RPO the agent can promise: the control plane alerts on it.
    ...(s.replication ? { replication: s.replication } : {}),
  };
}
