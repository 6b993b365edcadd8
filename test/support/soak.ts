/**
 * `HAVEN_SOAK=1` (`npm run test:soak`): fault and crash tests run their full iteration counts.
 * The default run keeps enough iterations to prove each point (and proves its faults landed);
 * the soak run repeats them to find rare interleavings.
 */
export const SOAK = process.env.HAVEN_SOAK === '1';

/** `quick` in the default run, `soak` under HAVEN_SOAK=1. */
export const iterations = (quick: number, soak: number): number => (SOAK ? soak : quick);
