import { describe, expect, it } from 'vitest';
import { colBlock, gemm, numThreads, setNumThreads, simdName, tileSize } from '../../src/native/core.js';
import { SnaxError } from '../../src/errors.js';
import { expectClose, makeRandom, randomArray } from '../helpers/numeric.js';

function referenceGemm(a: Float32Array, b: Float32Array, m: number, n: number, k: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let q = 0; q < k; q++) sum += a[i * k + q] * b[q * n + j];
      c[i * n + j] = sum;
    }
  return c;
}

describe('gemm', () => {
  const shapes: Array<[number, number, number]> = [
    [1, 1, 1],
    [7, 13, 5],
    [100, 72, 100],
    [129, 257, 65],
    [64, 256, 768],
  ];
  for (const [m, n, k] of shapes) {
    it(`matches float64 reference at ${m}x${n}x${k}`, () => {
      const random = makeRandom(m * 1000 + n * 10 + k);
      const a = randomArray(random, m * k);
      const b = randomArray(random, k * n);
      const c = new Float32Array(m * n);
      gemm(c, a, b, m, n, k);
      expectClose('c', c, referenceGemm(a, b, m, n, k), 1e-5);
    });
  }

  it('accumulates into c', () => {
    const random = makeRandom(5);
    const a = randomArray(random, 30 * 20);
    const b = randomArray(random, 20 * 10);
    const c = new Float32Array(30 * 10).fill(1);
    gemm(c, a, b, 30, 10, 20, true);
    const expected = referenceGemm(a, b, 30, 10, 20).map((v) => v + 1);
    expectClose('c', c, expected, 1e-5);
  });

  it('is bitwise identical for 1, 2 and 3 threads', () => {
    const random = makeRandom(9);
    const [m, n, k] = [150, 300, 200];
    const a = randomArray(random, m * k);
    const b = randomArray(random, k * n);
    const results: Float32Array[] = [];
    const before = numThreads();
    try {
      for (const threads of [1, 2, 3]) {
        setNumThreads(threads);
        const c = new Float32Array(m * n);
        gemm(c, a, b, m, n, k);
        results.push(c);
      }
    } finally {
      setNumThreads(0);
    }
    expect(numThreads()).toBe(before);
    expect(Buffer.from(results[1].buffer).equals(Buffer.from(results[0].buffer))).toBe(true);
    expect(Buffer.from(results[2].buffer).equals(Buffer.from(results[0].buffer))).toBe(true);
  });

  it('rejects a shape mismatch with SHAPE_MISMATCH', () => {
    const call = () => gemm(new Float32Array(5), new Float32Array(6), new Float32Array(6), 2, 3, 3);
    expect(call).toThrow(SnaxError);
    expect(call).toThrow(/c has 5 elements, expected 6/);
  });

  it('rejects a wrong dtype with INVALID_DTYPE', () => {
    const call = () => gemm(new Float32Array(4), new Float64Array(4) as unknown as Float32Array, new Float32Array(4), 2, 2, 2);
    expect(call).toThrow(/a must be a Float32Array, got Float64Array/);
  });

  it('reports a positive tile size', () => {
    expect(tileSize()).toBeGreaterThan(0);
  });

  it('reports a known SIMD name', () => {
    expect(['avx512', 'avx2', 'portable']).toContain(simdName());
  });

  for (const n of [1, 2, 7, 100, 129, 2048]) {
    it(`colBlock(${n}) is even and fits n`, () => {
      const block = colBlock(n);
      expect(block % 2).toBe(0);
      expect(block).toBeGreaterThanOrEqual(2);
      expect(block).toBeLessThanOrEqual(Math.ceil(n / 2) * 2);
    });
  }
});
