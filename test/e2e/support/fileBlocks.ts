import { execFileSync } from 'node:child_process';

/**
 * Where a file's data lives on an ext4 image: byte ranges of its blocks (debugfs, read-only).
 * Writing new bytes there through the write splitter changes what the file reads as, without
 * touching the filesystem's metadata: a server's data changing between two cuts.
 */
export function fileRanges(image: string, fsPath: string): { offset: number; length: number }[] {
  const run = (cmd: string) =>
    execFileSync('debugfs', ['-R', cmd, image], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  const bs = Number(/Block size:\s+(\d+)/.exec(run('stats'))?.[1]);
  const blocks = run(`blocks ${fsPath}`).trim().split(/\s+/).filter(Boolean).map(Number);
  if (!bs || !blocks.length) throw new Error(`no blocks for ${fsPath} in ${image}`);
  return blocks.map((b) => ({ offset: b * bs, length: bs }));
}
