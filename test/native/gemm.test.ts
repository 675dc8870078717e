/**
 * The grouped GEMM engine on every operand layout it supports: row-major,
 * transposed, gathered rows, gathered reduction indices and generic strided
 * gathers, checked against a float64 reference that reads the same views.
 *
 * Tolerance: relative error (max |c - ref| / max |ref|) <= 1e-5 everywhere.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { colBlock, gemmViews, setNumThreads, tileSize } from '../../src/native/core.js';
import type { GemmViewProblem, MatrixViewSpec } from '../../src/native/core.js';
import { SnaxError } from '../../src/errors.js';
import { expectClose, makeRandom, randomArray } from '../helpers/numeric.js';

const TOLERANCE = 1e-5;

interface Layout {
  transposed?: boolean;
  gatherRows?: boolean;
  gatherCols?: boolean;
}

/** Element (i, j) of a view, read the way the engine reads it. */
function viewElement(view: MatrixViewSpec, i: number, j: number): number {
  const row = view.rowIndex ? view.rowIndex[i] : i;
  const col = view.colIndex ? view.colIndex[j] : j;
  return view.transposed ? view.data[row + col * view.leading] : view.data[row * view.leading + col];
}

/** Builds a random stored buffer and a view of a rows x cols logical matrix over it. */
function makeView(random: () => number, rows: number, cols: number, layout: Layout): MatrixViewSpec {
  // Gathered dimensions read from a larger stored dimension, with repeats.
  const storedRows = layout.gatherRows ? rows + 5 : rows;
  const storedCols = layout.gatherCols ? cols + 3 : cols;
  const gather = (length: number, stored: number) => Int32Array.from({ length }, () => Math.floor(random() * stored));
  const rowIndex = layout.gatherRows ? gather(rows, storedRows) : undefined;
  const colIndex = layout.gatherCols ? gather(cols, storedCols) : undefined;
  // A transposed view reads a stored cols x rows row-major buffer.
  const leading = Math.max(1, layout.transposed ? storedRows : storedCols);
  const data = randomArray(random, Math.max(1, storedRows * storedCols));
  return { data, leading, transposed: layout.transposed, rowIndex, colIndex };
}

function makeProblem(seed: number, m: number, n: number, k: number, aLayout: Layout = {}, bLayout: Layout = {}): GemmViewProblem {
  const random = makeRandom(seed);
  return {
    c: new Float32Array(m * n),
    a: makeView(random, m, k, aLayout),
    b: makeView(random, k, n, bLayout),
    m,
    n,
    k,
    ldc: n,
  };
}

/** Computes the float64 result of a problem, starting from a copy of c when accumulating. */
function reference(problem: GemmViewProblem, cBefore: Float32Array): Float64Array {
  const { m, n, k, ldc } = problem;
  const out = Float64Array.from(cBefore);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let q = 0; q < k; q++) sum += viewElement(problem.a, i, q) * viewElement(problem.b, q, j);
      out[i * ldc + j] = problem.accumulate ? out[i * ldc + j] + sum : sum;
    }
  return out;
}

/** Runs the problems on the engine and checks each c against the reference. */
function checkAgainstReference(problems: GemmViewProblem[]): void {
  const before = problems.map((problem) => problem.c.slice());
  gemmViews(problems);
  problems.forEach((problem, p) => {
    expectClose(`problem ${p} c`, problem.c, reference(problem, before[p]), TOLERANCE);
  });
}

function sameBits(x: Float32Array, y: Float32Array): boolean {
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
}

afterEach(() => setNumThreads(0));

describe('gemmViews layouts', () => {
  const shapes: Array<[number, number, number]> = [
    [1, 1, 1],
    [7, 13, 5],
    [100, 72, 100],
    [72, 100, 7],
    [129, 257, 65],
    [257, 129, 300],
  ];
  const layouts: Array<[string, Layout, Layout]> = [
    ['row-major', {}, {}],
    ['transposed a', { transposed: true }, {}],
    ['transposed b', {}, { transposed: true }],
    ['both transposed', { transposed: true }, { transposed: true }],
    ['row-gathered a', { gatherRows: true }, { transposed: true }],
    ['reduction-gathered a^T and b', { transposed: true, gatherCols: true }, { gatherRows: true }],
    ['reduction-gathered a and b^T', { gatherCols: true }, { transposed: true, gatherRows: true }],
    ['column-gathered b', {}, { gatherCols: true }],
    ['gathered both dims', { gatherRows: true, gatherCols: true }, { gatherRows: true, gatherCols: true }],
    ['gathered transposed both dims', { transposed: true, gatherRows: true, gatherCols: true }, { transposed: true, gatherRows: true, gatherCols: true }],
  ];
  layouts.forEach(([name, aLayout, bLayout], l) => {
    for (const [m, n, k] of shapes) {
      it(`${name} ${m}x${n}x${k}`, () => {
        checkAgainstReference([makeProblem(l * 7919 + m * 31 + n * 7 + k, m, n, k, aLayout, bLayout)]);
      });
    }
  });

  it('reference path matches float64', () => {
    const problem = makeProblem(41, 70, 90, 33, { gatherRows: true }, { transposed: true });
    gemmViews([problem], { reference: true });
    expectClose('c', problem.c, reference(problem, new Float32Array(70 * 90)), TOLERANCE);
  });
});

describe('gemmViews edge cases', () => {
  it('k = 0 zeroes c', () => {
    const problem = makeProblem(1, 9, 11, 0);
    problem.c.fill(3);
    gemmViews([problem]);
    expect(problem.c.every((v) => v === 0)).toBe(true);
  });

  it('k = 0 accumulate leaves c', () => {
    const problem = makeProblem(2, 9, 11, 0);
    problem.c.fill(3);
    problem.accumulate = true;
    gemmViews([problem]);
    expect(problem.c.every((v) => v === 3)).toBe(true);
  });

  it('accumulate adds to c', () => {
    const problem = makeProblem(3, 67, 45, 300, { gatherRows: true }, { transposed: true });
    problem.c = randomArray(makeRandom(4), 67 * 45);
    problem.accumulate = true;
    checkAgainstReference([problem]);
  });

  it('ldc wider than n leaves padding', () => {
    const problem = makeProblem(5, 20, 30, 40);
    problem.ldc = 37;
    problem.c = new Float32Array(20 * 37).fill(-7);
    const before = problem.c.slice();
    gemmViews([problem]);
    const expected = reference(problem, before);
    expectClose('c', problem.c, expected, TOLERANCE);
    const padding = Array.from({ length: 20 }, (_, i) => problem.c.subarray(i * 37 + 30, i * 37 + 37)).flatMap((row) => Array.from(row));
    expect(padding.every((v) => v === -7)).toBe(true);
  });

  it('NaN in a reaches c', () => {
    const problem = makeProblem(6, 10, 10, 10);
    problem.a.data[0] = Number.NaN;
    gemmViews([problem]);
    expect(Number.isNaN(problem.c[0])).toBe(true);
  });

  it('rejects an index past the data', () => {
    const problem = makeProblem(7, 4, 4, 4, { gatherRows: true });
    problem.a.rowIndex![2] = 1000;
    const call = () => gemmViews([problem]);
    expect(call).toThrow(SnaxError);
    expect(call).toThrow(/problems\[0\]\.a\.data has \d+ elements, the view reaches element/);
  });

  it('rejects a negative index', () => {
    const problem = makeProblem(8, 4, 4, 4, {}, { gatherRows: true });
    problem.b.rowIndex![1] = -1;
    expect(() => gemmViews([problem])).toThrow(/problems\[0\]\.b\.rowIndex\[1\] is -1, expected >= 0/);
  });

  it('rejects a short c', () => {
    const problem = makeProblem(9, 4, 4, 4);
    problem.c = new Float32Array(15);
    expect(() => gemmViews([problem])).toThrow(/problems\[0\]\.c has 15 elements, expected at least 16/);
  });
});

/** Expert-like grouped problems: forward (row gather, different m) and weight gradients (reduction gather, different k). */
function groupedProblems(seed: number): GemmViewProblem[] {
  const problems: GemmViewProblem[] = [];
  const forwardRows = [16, 0, 64, 7, 130];
  forwardRows.forEach((m, e) => problems.push(makeProblem(seed + e, m, 96, 48, { gatherRows: true }, { transposed: true })));
  const gradientTokens = [0, 5, 64, 300, 1];
  gradientTokens.forEach((k, e) =>
    problems.push(makeProblem(seed + 100 + e, 40, 48, k, { transposed: true, gatherCols: true }, { gatherRows: true })),
  );
  return problems;
}

describe('gemmViews grouped', () => {
  it('different m and k match float64', () => {
    checkAgainstReference(groupedProblems(11));
  });

  it('epilogue covers each block once', () => {
    const problems = groupedProblems(12);
    const blocks = gemmViews(problems, { recordEpilogue: true });
    problems.forEach((problem, p) => {
      const covered = new Int32Array(problem.m * problem.n);
      for (const block of blocks.filter((b) => b.problem === p)) {
        expect(block.col0 % colBlock(problem.n), `problem ${p} col0 ${block.col0}`).toBe(0);
        expect(block.rows, `problem ${p} rows`).toBeLessThanOrEqual(tileSize());
        for (let i = block.row0; i < block.row0 + block.rows; i++)
          for (let j = block.col0; j < block.col0 + block.cols; j++) covered[i * problem.n + j]++;
      }
      expect(covered.every((count) => count === 1), `problem ${p} coverage`).toBe(true);
    });
  });

  it('epilogue sees final block values', () => {
    const problems = groupedProblems(13);
    const blocks = gemmViews(problems, { recordEpilogue: true });
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) {
      const { c, ldc } = problems[block.problem];
      let sum = 0;
      for (let i = block.row0; i < block.row0 + block.rows; i++)
        for (let j = block.col0; j < block.col0 + block.cols; j++) sum += c[i * ldc + j];
      expect(block.sum, `problem ${block.problem} block ${block.row0},${block.col0}`).toBe(sum);
    }
  });

  for (const threads of [1, 2]) {
    for (const reference of [false, true]) {
      it(`epilogue error reaches caller (${threads} threads${reference ? ', reference' : ''})`, () => {
        setNumThreads(threads);
        const call = () => gemmViews(groupedProblems(16), { reference, epilogueErrorAt: 3 });
        expect(call).toThrow(SnaxError);
        expect(call).toThrow(/epilogue call 3 failed on request/);
        expect(() => call()).toThrow(expect.objectContaining({ code: 'EPILOGUE_FAILED' }));
      });
    }
  }

  it('reference epilogue covers each block once', () => {
    const problems = groupedProblems(14);
    const blocks = gemmViews(problems, { reference: true, recordEpilogue: true });
    const cells = blocks.reduce((total, block) => total + block.rows * block.cols, 0);
    expect(cells).toBe(problems.reduce((total, problem) => total + problem.m * problem.n, 0));
  });
});

describe('gemmViews wide problems', () => {
  // A thread keeps 4M floats of packed B, i.e. 8 column blocks of 128 at
  // k = 4096, so 1100 columns take the path that repacks A per item.
  it('more column blocks than packed B slots', () => {
    checkAgainstReference([makeProblem(31, 9, 1100, 4096, { gatherRows: true }, { transposed: true })]);
  });
});

describe('gemmViews determinism', () => {
  const cases: Array<[string, () => GemmViewProblem[]]> = [
    ['grouped experts', () => groupedProblems(21)],
    ['wide problem', () => [makeProblem(25, 9, 1100, 4096, {}, { transposed: true })]],
    ['square 300', () => [makeProblem(22, 300, 300, 300, {}, { transposed: true })]],
    ['few items', () => [makeProblem(23, 64, 130, 700, { gatherRows: true }, { transposed: true })]],
    ['long reduction', () => [makeProblem(24, 40, 72, 2000, { transposed: true, gatherCols: true }, { gatherRows: true })]],
  ];
  for (const [name, build] of cases) {
    it(`${name} bitwise equal on 1, 2, 3 threads`, () => {
      const results: Float32Array[][] = [];
      for (const threads of [1, 2, 3]) {
        setNumThreads(threads);
        const problems = build();
        gemmViews(problems);
        results.push(problems.map((problem) => problem.c));
      }
      results[0].forEach((c, p) => {
        expect(sameBits(results[1][p], c), `problem ${p}, 2 threads`).toBe(true);
        expect(sameBits(results[2][p], c), `problem ${p}, 3 threads`).toBe(true);
      });
    });
  }
});
