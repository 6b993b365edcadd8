import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { importsOf, repoRoot as root, sourceFiles } from '../support/sourceTree';

/**
 * No import circles in the product: arrows point down (core ← adapters ← functions/orchestrations
 * ← app), and inside a part, shared types sit below the code that uses them. Type-only imports
 * count too: a circle of types is a circle of concepts. Test code is left out.
 */
const parts = [
  'core',
  'adapters',
  'functions',
  'orchestrations',
  'app',
  'edge-agent',
  'admin-cli',
  'local',
];

/** Strongly connected components with more than one file (Tarjan). */
function cycles(graph: Map<string, string[]>): string[][] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const out: string[][] = [];
  const visit = (v: string) => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (on.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const comp: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        on.delete(w);
        comp.push(relative(root, w));
      } while (w !== v);
      if (comp.length > 1) out.push(comp.sort());
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

describe('import graph', () => {
  it('has no circles', () => {
    const all = parts.flatMap((p) => sourceFiles(join(root, p)));
    const graph = new Map(all.map((f) => [f, importsOf(f)]));
    expect([...graph.values()].flat().length).toBeGreaterThan(500); // the scan saw the imports
    expect(cycles(graph)).toEqual([]);
  });
});
