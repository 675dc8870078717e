import { describe, expect, it } from 'vitest';
import { interleavedToSplit, splitToInterleaved } from '../../src/model/layout.js';

describe('w1 layout conversion', () => {
  // Two experts, N = 3 units, D = 2: each row is filled with a code naming expert, unit and half.
  const E = 2;
  const N = 3;
  const D = 2;
  const interleaved = new Float32Array(E * 2 * N * D);
  for (let e = 0; e < E; e++)
    for (let j = 0; j < N; j++)
      for (const up of [0, 1]) interleaved.fill(100 * e + 10 * j + up, (e * 2 * N + 2 * j + up) * D, (e * 2 * N + 2 * j + up + 1) * D);

  it('puts gates first, then ups', () => {
    const split = interleavedToSplit(interleaved, N, D);
    const rowCodes = Array.from({ length: E * 2 * N }, (_, row) => split[row * D]);
    expect(rowCodes).toEqual([0, 10, 20, 1, 11, 21, 100, 110, 120, 101, 111, 121]);
  });

  it('round-trips exactly', () => {
    const back = splitToInterleaved(interleavedToSplit(interleaved, N, D), N, D);
    expect(Array.from(back)).toEqual(Array.from(interleaved));
  });

  it('rejects a length that is not whole matrices', () => {
    expect(() => interleavedToSplit(new Float32Array(7), N, D)).toThrow(/not a whole number/);
  });
});
