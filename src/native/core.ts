/**
 * Engine-wide native functions: thread count, the GEMM tile and a plain
 * row-major GEMM (used by tests and benchmarks).
 */
import { fromNative } from '../errors.js';
import { addon } from './addon.js';
import { expectLength, expectInteger } from './check.js';

/** Threads the native kernels use (SNAX_NUM_THREADS, or every core). */
export function numThreads(): number {
  return addon().numThreads() as number;
}

/** Sets the native thread count for this process; 0 restores the default. */
export function setNumThreads(threads: number): void {
  expectInteger('threads', threads, 0);
  addon().setNumThreads(threads);
}

/** The row tile of the CPU GEMM engine, the tile that token rounding uses by default. */
export function tileSize(): number {
  return addon().tileSize() as number;
}

/** The SIMD instruction set the addon was compiled for: avx512, avx2 or portable. */
export function simdName(): string {
  return addon().simdName() as string;
}

/** c_MN = a_MK * b_KN (or += with accumulate), all row-major. */
export function gemm(c_MN: Float32Array, a_MK: Float32Array, b_KN: Float32Array, m: number, n: number, k: number, accumulate = false): void {
  expectInteger('m', m, 0);
  expectInteger('n', n, 0);
  expectInteger('k', k, 0);
  expectLength('c', c_MN, m * n);
  expectLength('a', a_MK, m * k);
  expectLength('b', b_KN, k * n);
  try {
    addon().gemm(c_MN, a_MK, b_KN, m, n, k, accumulate);
  } catch (error) {
    throw fromNative(error);
  }
}
