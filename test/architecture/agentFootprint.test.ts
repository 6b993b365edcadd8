import { readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { requirements } from '../../local/setup/requirements';
import { importClosure, repoRoot } from '../support/sourceTree';

/**
 * A protected server runs `haven-agent` and needs nothing but Node: the agent reaches only its
 * own code and core/ (no local stand-ins, no set-up step), spawns none of the programs the
 * set-up step installs for the local world, and starts a process only for the freeze hooks the
 * server's owner configures.
 */
const agent = [...importClosure(join(repoRoot, 'edge-agent', 'cli.ts'))];
const rel = (f: string) => relative(repoRoot, f);

describe('the agent on a protected server', () => {
  it('reaches only edge-agent/ and core/', () => {
    expect(agent.length).toBeGreaterThan(20); // the walk followed the imports
    expect(agent.map(rel).filter((f) => !/^(edge-agent|core)\//.test(f))).toEqual([]);
  });

  it('spawns no program the set-up step installs, and only hooks start processes', () => {
    const tools = requirements.map((r) => r.tool);
    const spawning: string[] = [];
    const naming: string[] = [];
    for (const f of agent) {
      const text = readFileSync(f, 'utf8');
      if (/['"](node:)?child_process['"]/.test(text)) spawning.push(rel(f));
      for (const t of tools) if (text.includes(`'${t}'`)) naming.push(`${rel(f)}: ${t}`);
    }
    expect(spawning).toEqual(['edge-agent/hooks.ts']);
    expect(naming).toEqual([]);
  });
});
