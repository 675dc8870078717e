/**
 * The seeded random numbers of the data pipeline (document split, window
 * shuffle). Results depend only on the seed and stream numbers, so a run
 * can be repeated and resumed exactly.
 */

/** Mixes a 32-bit value (the finalizer of MurmurHash3), so nearby seeds give unrelated streams. */
function mix32(value: number): number {
  let h = value >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b);
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/**
 * Returns a uniform generator on [0, 1) (mulberry32) for a seed and a stream
 * number. Seeds up to 2^53 are used in full: the high and low 32 bits are
 * mixed separately.
 */
export function seededRandom(seed: number, stream = 0): () => number {
  const low = seed >>> 0;
  const high = Math.floor(seed / 2 ** 32) >>> 0;
  let state = mix32(low ^ mix32(high ^ mix32(stream + 0x9e3779b9)));
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Shuffles an array in place (Fisher-Yates) and returns it. */
export function shuffle<T extends { length: number; [index: number]: number }>(values: T, random: () => number): T;
export function shuffle<T>(values: T[], random: () => number): T[];
export function shuffle(values: { length: number; [index: number]: unknown }, random: () => number): unknown {
  for (let i = values.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const swap = values[i];
    values[i] = values[j];
    values[j] = swap;
  }
  return values;
}
