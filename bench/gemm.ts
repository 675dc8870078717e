/**
 * GEMM engine benchmark: GFLOP/s of a square GEMM and of the grouped shapes
 * of a fine-grained MoE layer, for the packed SIMD engine and for the plain
 * loop implementation in the same binary.
 *
 * Run: node dist/bench/gemm.js [--json] [--repeat R] [--tokens T] [--square S] [--no-baseline]
 *
 * Each case runs once to warm up, then R timed runs. The report gives the
 * best and median GFLOP/s and the spread (max - min) / max of the run rates.
 * The plain loop is slow, so it is timed once per case.
 */
import { performance } from 'node:perf_hooks';
import { gemmViews, numThreads, simdName } from '../src/native/core.js';
import type { GemmViewProblem } from '../src/native/core.js';

interface Options {
  json: boolean;
  repeat: number;
  tokens: number;
  square: number;
  baseline: boolean;
}

interface Result {
  name: string;
  gflop: number;
  bestGflops: number;
  medianGflops: number;
  spread: number;
  baselineGflops?: number;
  speedup?: number;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { json: false, repeat: 5, tokens: 4096, square: 2048, baseline: true };
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = (): number => {
      const value = Number(argv[++i]);
      if (!Number.isInteger(value) || value < 1) throw new Error(`${flag} needs a positive integer, got ${argv[i]}`);
      return value;
    };
    if (flag === '--json') options.json = true;
    else if (flag === '--no-baseline') options.baseline = false;
    else if (flag === '--repeat') options.repeat = next();
    else if (flag === '--tokens') options.tokens = next();
    else if (flag === '--square') options.square = next();
    else throw new Error(`unknown option ${flag}; expected --json, --repeat R, --tokens T, --square S or --no-baseline`);
  }
  return options;
}

/** A seeded generator so every run benchmarks the same routing. */
function makeRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 4294967296;
  };
}

function randomFloats(random: () => number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = random() * 2 - 1;
  return out;
}

/** Splits `total` routed rows over `experts` with a +-50% imbalance. */
function expertCounts(random: () => number, total: number, experts: number): number[] {
  const weights = Array.from({ length: experts }, () => 0.5 + random());
  const sum = weights.reduce((a, b) => a + b, 0);
  const counts = weights.map((w) => Math.floor((w / sum) * total));
  counts[0] += total - counts.reduce((a, b) => a + b, 0);
  return counts;
}

interface Case {
  name: string;
  problems: GemmViewProblem[];
  gflop: number;
}

function flops(problems: GemmViewProblem[]): number {
  return problems.reduce((total, p) => total + 2 * p.m * p.n * p.k, 0) / 1e9;
}

function squareCase(size: number): Case {
  const random = makeRandom(1);
  const problems: GemmViewProblem[] = [
    {
      c: new Float32Array(size * size),
      a: { data: randomFloats(random, size * size), leading: size },
      b: { data: randomFloats(random, size * size), leading: size },
      m: size,
      n: size,
      k: size,
      ldc: size,
    },
  ];
  return { name: `square ${size}^3`, problems, gflop: flops(problems) };
}

/**
 * Builds the three grouped GEMMs of one expert layer with T tokens, width D = 768
 * and (N, E, K): forward H_e = x[tokens_e] W1_e^T, and the weight gradients
 * dW1_e = dH_e^T x[tokens_e] (2N x D, reduction over the expert's tokens)
 * and dW2_e = G[tokens_e]^T A_e (D x N, reduction gathered on both operands).
 */
function moeCases(tokens: number, expertWidth: number, experts: number, active: number): Case[] {
  const D = 768;
  const N = expertWidth;
  const random = makeRandom(expertWidth * 1000 + experts);
  const counts = expertCounts(random, tokens * active, experts);
  const x_TD = randomFloats(random, tokens * D);
  const g_TD = randomFloats(random, tokens * D);

  const forward: GemmViewProblem[] = [];
  const dW1: GemmViewProblem[] = [];
  const dW2: GemmViewProblem[] = [];
  for (let e = 0; e < experts; e++) {
    const m = counts[e];
    const tokenIndex = Int32Array.from({ length: m }, () => Math.floor(random() * tokens));
    const w1_2ND = randomFloats(random, 2 * N * D);
    const h_M2N = new Float32Array(m * 2 * N);

    forward.push({
      c: h_M2N,
      a: { data: x_TD, leading: D, rowIndex: tokenIndex },
      b: { data: w1_2ND, leading: D, transposed: true },
      m,
      n: 2 * N,
      k: D,
      ldc: 2 * N,
    });

    dW1.push({
      c: new Float32Array(2 * N * D),
      a: { data: randomFloats(random, Math.max(1, m * 2 * N)), leading: 2 * N, transposed: true },
      b: { data: x_TD, leading: D, rowIndex: tokenIndex },
      m: 2 * N,
      n: D,
      k: m,
      ldc: D,
    });

    dW2.push({
      c: new Float32Array(D * N),
      a: { data: g_TD, leading: D, transposed: true, colIndex: tokenIndex },
      b: { data: randomFloats(random, Math.max(1, m * N)), leading: N },
      m: D,
      n: N,
      k: m,
      ldc: N,
    });
  }

  const shape = `N=${N} E=${experts} K=${active} m~${Math.round((tokens * active) / experts)}`;
  return [
    { name: `forward x W1^T, ${shape}`, problems: forward, gflop: flops(forward) },
    { name: `dW1 = dH^T x, ${shape}`, problems: dW1, gflop: flops(dW1) },
    { name: `dW2 = G^T A, ${shape}`, problems: dW2, gflop: flops(dW2) },
  ];
}

function timeOnce(problems: GemmViewProblem[], reference: boolean): number {
  const start = performance.now();
  gemmViews(problems, { reference });
  return (performance.now() - start) / 1000;
}

function measure(item: Case, options: Options): Result {
  timeOnce(item.problems, false);
  const rates: number[] = [];
  for (let r = 0; r < options.repeat; r++) rates.push(item.gflop / timeOnce(item.problems, false));
  rates.sort((a, b) => a - b);
  const best = rates[rates.length - 1];
  const result: Result = {
    name: item.name,
    gflop: item.gflop,
    bestGflops: best,
    medianGflops: rates[Math.floor(rates.length / 2)],
    spread: (best - rates[0]) / best,
  };
  if (options.baseline) {
    result.baselineGflops = item.gflop / timeOnce(item.problems, true);
    result.speedup = best / result.baselineGflops;
  }
  return result;
}

function main(): void {
  const options = parseOptions(process.argv.slice(2));
  const cases: Case[] = [squareCase(options.square)];
  for (const [N, E, K] of [
    [1024, 8, 1],
    [256, 32, 4],
    [64, 128, 16],
  ]) {
    cases.push(...moeCases(options.tokens, N, E, K));
  }
  // Skinny experts: about 16 rows each in forward, 16-token reductions in the weight gradients.
  cases.push(...moeCases(2048, 128, 128, 1));
  const results: Result[] = [];
  for (const item of cases) {
    const result = measure(item, options);
    results.push(result);
    if (!options.json) {
      const baseline =
        result.baselineGflops === undefined ? '' : `  plain ${result.baselineGflops.toFixed(2).padStart(6)}  x${result.speedup!.toFixed(1)}`;
      console.log(
        `${item.name.padEnd(44)} ${item.gflop.toFixed(2).padStart(7)} GFLOP  best ${result.bestGflops.toFixed(1).padStart(6)}` +
          `  median ${result.medianGflops.toFixed(1).padStart(6)}  spread ${(result.spread * 100).toFixed(1).padStart(5)}%${baseline}`,
      );
    }
  }
  if (options.json) {
    console.log(JSON.stringify({ simd: simdName(), threads: numThreads(), tokens: options.tokens, repeat: options.repeat, results }, null, 2));
  }
}

main();
