/**
 * Engine-wide native functions: thread count, the GEMM tiles, a plain
 * row-major GEMM, and gemmViews, which reaches every operand layout of the
 * grouped GEMM engine (used by tests and benchmarks).
 */
import { SnaxError, fromNative } from '../errors.js';
import { addon, MAX_THREADS } from './addon.js';
import { describeType, expectInt32Length, expectInteger, expectLength } from './check.js';

/** Threads the native kernels use (SNAX_NUM_THREADS, or every core). */
export function numThreads(): number {
  return addon().numThreads() as number;
}

/** Sets the native thread count for this process; 0 restores the default. */
export function setNumThreads(threads: number): void {
  expectInteger('threads', threads, 0, MAX_THREADS);
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

/** Columns in one epilogue column block of the GEMM engine for a problem with n columns (always even). */
export function colBlock(n: number): number {
  expectInteger('n', n, 0);
  return addon().colBlock(n) as number;
}

/**
 * A logical matrix read from a row-major buffer with `leading` columns.
 * Element (i, j) is data[r * leading + c] with r = rowIndex[i] (or i) and
 * c = colIndex[j] (or j); with `transposed` it is data[r + c * leading].
 */
export interface MatrixViewSpec {
  data: Float32Array;
  leading: number;
  transposed?: boolean;
  rowIndex?: Int32Array;
  colIndex?: Int32Array;
}

/** One GEMM problem: c (m rows, leading dimension ldc) = or += a_MK * b_KN. */
export interface GemmViewProblem {
  c: Float32Array;
  a: MatrixViewSpec;
  b: MatrixViewSpec;
  m: number;
  n: number;
  k: number;
  ldc: number;
  accumulate?: boolean;
}

/** One epilogue call as recorded by gemmViews, with the sum of the block's values when it ran. */
export interface EpilogueBlock {
  problem: number;
  row0: number;
  rows: number;
  col0: number;
  cols: number;
  sum: number;
}

/**
 * Options of gemmViews: run the plain loop implementation, record the
 * epilogue calls, and make epilogue call number `epilogueErrorAt` (counted
 * from 0 across threads) throw EPILOGUE_FAILED to test error propagation.
 */
export interface GemmViewOptions {
  reference?: boolean;
  recordEpilogue?: boolean;
  epilogueErrorAt?: number;
}

function checkIndex(name: string, index: Int32Array | undefined, length: number): number {
  if (index === undefined) return length - 1;
  expectInt32Length(name, index, length);
  let largest = -1;
  for (let i = 0; i < length; i++) {
    if (index[i] < 0) throw new SnaxError('INVALID_ARGUMENT', `${name}[${i}] is ${index[i]}, expected >= 0`);
    largest = Math.max(largest, index[i]);
  }
  return largest;
}

function checkView(name: string, view: MatrixViewSpec, rows: number, cols: number): void {
  if (typeof view !== 'object' || view === null) throw new SnaxError('INVALID_ARGUMENT', `${name} must be an object`);
  if (!(view.data instanceof Float32Array)) {
    throw new SnaxError('INVALID_DTYPE', `${name}.data must be a Float32Array, got ${describeType(view.data)}`);
  }
  expectInteger(`${name}.leading`, view.leading, 1);
  const maxRow = checkIndex(`${name}.rowIndex`, view.rowIndex, rows);
  const maxCol = checkIndex(`${name}.colIndex`, view.colIndex, cols);
  if (rows === 0 || cols === 0) return;
  const inner = view.transposed ? maxRow : maxCol;
  if (inner >= view.leading) {
    throw new SnaxError('SHAPE_MISMATCH', `${name}.leading is ${view.leading}, expected more than ${inner}`);
  }
  const last = view.transposed ? maxRow + maxCol * view.leading : maxRow * view.leading + maxCol;
  if (last >= view.data.length) {
    throw new SnaxError('SHAPE_MISMATCH', `${name}.data has ${view.data.length} elements, the view reaches element ${last}`);
  }
}

/**
 * Runs the problems as one grouped GEMM on strided and gathered views (the
 * plain reference implementation with `reference`). With `recordEpilogue`,
 * returns the epilogue calls in the order they finished.
 */
export function gemmViews(problems: GemmViewProblem[], options: GemmViewOptions = {}): EpilogueBlock[] {
  problems.forEach((problem, p) => {
    const where = `problems[${p}]`;
    expectInteger(`${where}.m`, problem.m, 0);
    expectInteger(`${where}.n`, problem.n, 0);
    expectInteger(`${where}.k`, problem.k, 0);
    expectInteger(`${where}.ldc`, problem.ldc, 0);
    if (!(problem.c instanceof Float32Array)) {
      throw new SnaxError('INVALID_DTYPE', `${where}.c must be a Float32Array, got ${describeType(problem.c)}`);
    }
    if (problem.m > 0 && problem.n > 0) {
      const needed = (problem.m - 1) * problem.ldc + problem.n;
      if (problem.ldc < problem.n || problem.c.length < needed) {
        throw new SnaxError(
          'SHAPE_MISMATCH',
          `${where}.c has ${problem.c.length} elements, expected at least ${needed} for m=${problem.m}, n=${problem.n}, ldc=${problem.ldc} (ldc >= n)`,
        );
      }
    }
    checkView(`${where}.a`, problem.a, problem.m, problem.k);
    checkView(`${where}.b`, problem.b, problem.k, problem.n);
  });
  if (options.epilogueErrorAt !== undefined) expectInteger('epilogueErrorAt', options.epilogueErrorAt, 0);
  let raw: Float64Array | undefined;
  try {
    raw = addon().gemmViews(problems, options.reference === true, options.recordEpilogue === true, options.epilogueErrorAt ?? -1) as
      | Float64Array
      | undefined;
  } catch (error) {
    throw fromNative(error);
  }
  const blocks: EpilogueBlock[] = [];
  if (raw === undefined) return blocks;
  for (let i = 0; i + 6 <= raw.length; i += 6) {
    blocks.push({ problem: raw[i], row0: raw[i + 1], rows: raw[i + 2], col0: raw[i + 3], cols: raw[i + 4], sum: raw[i + 5] });
  }
  return blocks;
}
