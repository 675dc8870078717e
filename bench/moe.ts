/**
 * MoE layer benchmark: forward and backward time of the `snax` and
 * `cache-all` strategies and of the plain per-expert baseline (gather a
 * copy, GEMM, activation, GEMM, scatter-add, on the same GEMM engine), over
 * the constant-FLOPs granularity series at T = 4096, D = 768. The same run
 * measures the engine's rate on one large square GEMM as the ceiling and,
 * when /usr/bin/python3 has torch, a PyTorch per-expert loop on the same
 * shapes. GFLOP/s counts 6*T*K*N*D for forward and 12*T*K*N*D for backward.
 *
 * Usage: npm run bench:moe [-- --json] [-- --repeats R] [-- --tokens T]
 * With --json, one JSON document goes to stdout and progress to stderr.
 */
import { spawnSync } from 'node:child_process';
import { cpus } from 'node:os';
import { gemm, numThreads, simdName, tileSize } from '../src/native/core.js';
import { moeBackward, moeBaselineBackward, moeBaselineForward, moeForward, type MoeOptions, type MoeStrategy, type MoeWeights } from '../src/native/moe.js';

type Method = MoeStrategy | 'baseline';

interface MethodResult {
  method: Method;
  forwardSeconds: number;
  backwardSeconds: number;
  forwardGflops: number;
  backwardGflops: number;
  totalGflops: number;
  savedBytes: number;
  peakTemporaryBytes: number;
}

interface ConfigResult {
  expertWidth: number;
  experts: number;
  topK: number;
  granularity: number;
  methods: MethodResult[];
  torch: { forwardSeconds: number; backwardSeconds: number; totalGflops: number } | null;
}

const args = process.argv.slice(2);
const json = args.includes('--json');
const option = (name: string, fallback: number): number => {
  const index = args.indexOf(name);
  return index >= 0 ? Number(args[index + 1]) : fallback;
};
const T = option('--tokens', 4096);
const D = 768;
const repeats = option('--repeats', 3);
const series: Array<[number, number, number]> = [
  [1024, 8, 1],
  [512, 16, 2],
  [256, 32, 4],
  [128, 64, 8],
  [64, 128, 16],
];
const methods: Method[] = ['snax', 'cache-all', 'full', 'baseline'];

const progress = (line: string): void => {
  process.stderr.write(line + '\n');
};

function randomArray(n: number, scale: number, seed: number): Float32Array {
  const out = new Float32Array(n);
  let state = seed >>> 0;
  for (let i = 0; i < n; i++) {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    out[i] = ((state / 4294967296) * 2 - 1) * scale;
  }
  return out;
}

function seconds(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

function squareGemmGflops(size: number): number {
  const a = randomArray(size * size, 1, 1);
  const b = randomArray(size * size, 1, 2);
  const c = new Float32Array(size * size);
  gemm(c, a, b, size, size, size);
  let best = Infinity;
  for (let r = 0; r < repeats; r++) {
    const start = process.hrtime.bigint();
    gemm(c, a, b, size, size, size);
    best = Math.min(best, seconds(start));
  }
  return (2 * size ** 3) / best / 1e9;
}

function measure(method: Method, x_TD: Float32Array, weights: MoeWeights, options: MoeOptions, dout_TD: Float32Array): MethodResult {
  const { experts: E, expertWidth: N, topK: K } = options;
  const grads = {
    dx_TD: new Float32Array(T * D),
    dRouter_ED: new Float32Array(E * D),
    dw1_E2ND: new Float32Array(E * 2 * N * D),
    dw2_EDN: new Float32Array(E * D * N),
  };
  const forward = method === 'baseline' ? moeBaselineForward : moeForward;
  const backward = method === 'baseline' ? moeBaselineBackward : moeBackward;
  const strategyOptions: MoeOptions = { ...options, strategy: method === 'baseline' ? 'cache-all' : method };
  let bestForward = Infinity;
  let bestBackward = Infinity;
  let savedBytes = 0;
  let peakTemporaryBytes = 0;
  // One warm-up round, then `repeats` timed rounds; the best time is kept.
  for (let round = 0; round <= repeats; round++) {
    let start = process.hrtime.bigint();
    const result = forward(x_TD, weights, strategyOptions);
    const forwardTime = seconds(start);
    savedBytes = result.memory.savedBytes;
    peakTemporaryBytes = result.memory.peakTemporaryBytes;
    start = process.hrtime.bigint();
    backward(result.context!, dout_TD, weights, grads);
    const backwardTime = seconds(start);
    if (round > 0) {
      bestForward = Math.min(bestForward, forwardTime);
      bestBackward = Math.min(bestBackward, backwardTime);
    }
  }
  const flops = T * K * N * D;
  return {
    method,
    forwardSeconds: bestForward,
    backwardSeconds: bestBackward,
    forwardGflops: (6 * flops) / bestForward / 1e9,
    backwardGflops: (12 * flops) / bestBackward / 1e9,
    totalGflops: (18 * flops) / (bestForward + bestBackward) / 1e9,
    savedBytes,
    peakTemporaryBytes,
  };
}

function torchLoop(): Map<string, { forwardSeconds: number; backwardSeconds: number }> | string {
  const python = '/usr/bin/python3';
  const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) return 'skipped: /usr/bin/python3 has no torch (apt-get install python3-torch libopenblas0-pthread)';
  const script = new URL('../../bench/torch_moe.py', import.meta.url).pathname;
  const input = JSON.stringify({ tokens: T, width: D, configs: series, repeats, threads: numThreads() });
  const run = spawnSync(python, [script], { input, encoding: 'utf8', maxBuffer: 1 << 20 });
  if (run.status !== 0) return `failed: ${run.stderr.trim().split('\n').pop()}`;
  const results = new Map<string, { forwardSeconds: number; backwardSeconds: number }>();
  for (const line of run.stdout.trim().split('\n')) {
    const record = JSON.parse(line) as { config: number[]; forward_s: number; backward_s: number };
    results.set(record.config.join(','), { forwardSeconds: record.forward_s, backwardSeconds: record.backward_s });
  }
  return results;
}

function main(): void {
  const machine = `${cpus()[0]?.model ?? 'unknown CPU'}, ${numThreads()} threads, ${simdName()} kernels`;
  progress(`machine: ${machine}; T=${T} D=${D}; best of ${repeats} after one warm-up`);
  const squareSize = 2048;
  const squareGflops = squareGemmGflops(squareSize);
  progress(`square GEMM ${squareSize}^3: ${squareGflops.toFixed(1)} GFLOP/s`);

  const torch = torchLoop();
  if (typeof torch === 'string') progress(`pytorch loop: ${torch}`);

  const configs: ConfigResult[] = [];
  for (const [N, E, K] of series) {
    const x_TD = randomArray(T * D, 1, 3);
    const weights: MoeWeights = {
      router_ED: randomArray(E * D, 0.05, 4),
      w1_E2ND: randomArray(E * 2 * N * D, 0.03, 5),
      w2_EDN: randomArray(E * D * N, 0.03, 6),
    };
    const dout_TD = randomArray(T * D, 1, 7);
    const options: MoeOptions = { tokens: T, width: D, experts: E, topK: K, expertWidth: N, gate: K === 1 ? 'softmax' : 'renormalize' };
    const results: MethodResult[] = [];
    for (const method of methods) {
      const result = measure(method, x_TD, weights, options, dout_TD);
      results.push(result);
      progress(`(N=${N}, E=${E}, K=${K}) ${method}: fwd ${result.forwardGflops.toFixed(1)} bwd ${result.backwardGflops.toFixed(1)} GFLOP/s, saved ${(result.savedBytes / 2 ** 20).toFixed(1)} MiB`);
    }
    let torchResult: ConfigResult['torch'] = null;
    if (typeof torch !== 'string') {
      const entry = torch.get([N, E, K].join(','));
      if (entry) {
        torchResult = { ...entry, totalGflops: (18 * T * K * N * D) / (entry.forwardSeconds + entry.backwardSeconds) / 1e9 };
      }
    }
    configs.push({ expertWidth: N, experts: E, topK: K, granularity: K, methods: results, torch: torchResult });
  }

  const targets = checkTargets(configs, squareGflops);
  const document = {
    command: 'npm run bench:moe' + (json ? ' -- --json' : ''),
    machine,
    threads: numThreads(),
    tile: tileSize(),
    tokens: T,
    width: D,
    repeats,
    squareGemm: { size: squareSize, gflops: squareGflops },
    torch: typeof torch === 'string' ? torch : 'measured',
    configs,
    targets,
  };
  if (json) {
    process.stdout.write(JSON.stringify(document, null, 2) + '\n');
    return;
  }
  printTable(configs, squareGflops, targets);
}

interface TargetResult {
  name: string;
  value: string;
  met: boolean;
}

function find(config: ConfigResult, method: Method): MethodResult {
  return config.methods.find((m) => m.method === method)!;
}

function checkTargets(configs: ConfigResult[], squareGflops: number): TargetResult[] {
  const fine = configs.filter((c) => c.granularity >= 4);
  const savings = fine.map((c) => 1 - find(c, 'snax').savedBytes / find(c, 'cache-all').savedBytes);
  const snaxBytes = configs.map((c) => find(c, 'snax').savedBytes);
  const spread = (Math.max(...snaxBytes) - Math.min(...snaxBytes)) / Math.min(...snaxBytes);
  const g8 = configs.find((c) => c.expertWidth === 128 && c.experts === 64)!;
  const g8Snax = find(g8, 'snax').totalGflops;
  const g8Baseline = find(g8, 'baseline').totalGflops;
  return [
    { name: 'snax keeps >= 45% fewer activation bytes than cache-all at G >= 4', value: savings.map((s) => (100 * s).toFixed(1) + '%').join(', '), met: savings.every((s) => s >= 0.45) },
    { name: 'snax activation bytes constant within 5% across the series', value: (100 * spread).toFixed(2) + '% spread', met: spread <= 0.05 },
    { name: 'snax forward+backward >= 60% of the square-GEMM rate at (128, 64, 8)', value: (100 * g8Snax / squareGflops).toFixed(1) + '%', met: g8Snax >= 0.6 * squareGflops },
    { name: 'snax >= 1.5x the naive baseline at (128, 64, 8)', value: (g8Snax / g8Baseline).toFixed(2) + 'x', met: g8Snax >= 1.5 * g8Baseline },
  ];
}

function printTable(configs: ConfigResult[], squareGflops: number, targets: TargetResult[]): void {
  const header = '| N, E, K | G | method | fwd ms | bwd ms | fwd GFLOP/s | bwd GFLOP/s | total GFLOP/s | % of square GEMM | saved MiB |';
  const lines = [header, '|' + header.slice(1, -1).split('|').map(() => '---').join('|') + '|'];
  for (const config of configs) {
    const rows: Array<[string, number, number, number, number, number, number | null]> = config.methods.map((m) => [
      m.method,
      m.forwardSeconds,
      m.backwardSeconds,
      m.forwardGflops,
      m.backwardGflops,
      m.totalGflops,
      m.savedBytes,
    ]);
    if (config.torch) {
      const t = config.torch;
      const flops = T * config.topK * config.expertWidth * D;
      rows.push(['pytorch loop', t.forwardSeconds, t.backwardSeconds, (6 * flops) / t.forwardSeconds / 1e9, (12 * flops) / t.backwardSeconds / 1e9, t.totalGflops, null]);
    }
    for (const [method, fwd, bwd, fwdRate, bwdRate, total, saved] of rows) {
      lines.push(
        `| ${config.expertWidth}, ${config.experts}, ${config.topK} | ${config.granularity} | ${method} | ${(fwd * 1e3).toFixed(1)} | ${(bwd * 1e3).toFixed(1)} | ` +
          `${fwdRate.toFixed(1)} | ${bwdRate.toFixed(1)} | ${total.toFixed(1)} | ${((100 * total) / squareGflops).toFixed(0)}% | ${saved === null ? '-' : (saved / 2 ** 20).toFixed(1)} |`,
      );
    }
  }
  process.stdout.write(`square GEMM 2048^3: ${squareGflops.toFixed(1)} GFLOP/s\n\n` + lines.join('\n') + '\n\nTargets:\n');
  for (const target of targets) process.stdout.write(`- [${target.met ? 'met' : 'MISSED'}] ${target.name}: ${target.value}\n`);
}

main();
