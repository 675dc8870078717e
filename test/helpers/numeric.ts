/**
 * Shared helpers for kernel tests: a seeded random source and the error
 * measure every kernel test uses against its float64 reference.
 */
import { expect } from 'vitest';

/** A seeded uniform generator (mulberry32), so a failing case can be rerun. */
export function makeRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A Float32Array of n values drawn uniformly from [-scale, scale). */
export function randomArray(random: () => number, n: number, scale = 1): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (random() * 2 - 1) * scale;
  return out;
}

/**
 * Relative error max|a - b| / max(max|b|, floor). NaN or infinity anywhere in
 * either array returns Infinity, so NaN can never pass a tolerance check.
 */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>, floor = 1e-6): number {
  if (actual.length !== expected.length) return Infinity;
  let maxDiff = 0;
  let maxRef = floor;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (!Number.isFinite(a) || !Number.isFinite(b)) return Infinity;
    maxDiff = Math.max(maxDiff, Math.abs(a - b));
    maxRef = Math.max(maxRef, Math.abs(b));
  }
  return maxDiff / maxRef;
}

/** Asserts relativeError(actual, expected) <= tolerance, naming the tensor on failure. */
export function expectClose(name: string, actual: ArrayLike<number>, expected: ArrayLike<number>, tolerance: number): void {
  const error = relativeError(actual, expected);
  expect(error, `${name}: relative error ${error} exceeds ${tolerance}`).toBeLessThanOrEqual(tolerance);
}
