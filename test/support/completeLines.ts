import { existsSync, readFileSync } from 'node:fs';

/**
 * The lines of text another process is still appending to (a log, a child's stderr). A poll
 * can catch the last line half written, so only lines ended by their newline count.
 */
export function completeLines(text: string): string[] {
  return text.split('\n').slice(0, -1).filter(Boolean);
}

/** `completeLines` of a file; none while it is missing. */
export function completeFileLines(path: string): string[] {
  return existsSync(path) ? completeLines(readFileSync(path, 'utf8')) : [];
}
