import { completeFileLines } from '../../support/completeLines';

/** The JSON lines a fixture app recorded (fixtures/record.ts); none while the file is missing. */
export function readEvents<T = Record<string, unknown>>(file: string): T[] {
  return completeFileLines(file).map((l) => JSON.parse(l) as T);
}
