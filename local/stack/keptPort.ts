import { existsSync, readFileSync, writeFileSync } from 'node:fs';

/**
 * Starts an endpoint of a persistent stack on the port it had last time (`portFile`), so URLs
 * handed out before a restart stay valid; on a free port when that one is taken or there is no
 * file (in-memory stacks pass none). Records the port it got.
 */
export async function startOnKeptPort<T>(
  portFile: string | undefined,
  start: (port: number) => Promise<T>,
  urlOf: (started: T) => string,
): Promise<T> {
  const previous = portFile && existsSync(portFile) ? Number(readFileSync(portFile, 'utf8')) : 0;
  const started = await start(previous).catch((e: unknown) => {
    if (previous && (e as NodeJS.ErrnoException).code === 'EADDRINUSE') return start(0);
    throw e;
  });
  if (portFile) writeFileSync(portFile, new URL(urlOf(started)).port);
  return started;
}
