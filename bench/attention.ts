/**
 * Attention benchmark: GFLOP/s of attentionForward and attentionBackward
 * against the plain reference forms in the same binary, at the brown-tiny
 * shape (B=16 S=128 D=128 H=4) and at B=8 S=256 D=768 H=12.
 *
 * Run: node dist/bench/attention.js [--repeat R]
 *
 * Each kernel runs once to warm up, then R timed runs, and the report gives
 * the best run. FLOPs count the full square: 4*S*S*hd per (batch, head) for
 * forward (scores and P*V) and 8*S*S*hd for backward (dP, dQ, dK, dV), so
 * the causal half that is skipped still counts. Thread count: SNAX_NUM_THREADS
 * or every core.
 */
import { performance } from 'node:perf_hooks';
import { numThreads } from '../src/native/core.js';
import {
  attentionBackward,
  attentionBackwardReference,
  attentionForward,
  attentionForwardReference,
} from '../src/native/ops.js';

interface Shape {
  name: string;
  B: number;
  S: number;
  D: number;
  H: number;
}

const SHAPES: Shape[] = [
  { name: 'brown-tiny', B: 16, S: 128, D: 128, H: 4 },
  { name: 'gpt2-small', B: 8, S: 256, D: 768, H: 12 },
];
const THETA = 10_000;

function parseRepeat(argv: string[]): number {
  if (argv.length === 0) return 10;
  const value = Number(argv[1]);
  if (argv[0] !== '--repeat' || argv.length !== 2 || !Number.isInteger(value) || value < 1) {
    throw new Error(`expected --repeat R with R a positive integer, got ${argv.join(' ')}`);
  }
  return value;
}

function randomFloats(n: number, seed: number): Float32Array {
  let state = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    state = (state * 1664525 + 1013904223) >>> 0;
    out[i] = (state / 4294967296) * 2 - 1;
  }
  return out;
}

/** Returns the best wall time in seconds of `repeat` runs after one warm-up run. */
function bestSeconds(run: () => void, repeat: number): number {
  run();
  let best = Infinity;
  for (let r = 0; r < repeat; r++) {
    const start = performance.now();
    run();
    best = Math.min(best, (performance.now() - start) / 1000);
  }
  return best;
}

function main(): void {
  const repeat = parseRepeat(process.argv.slice(2));
  console.log(`attention, ${numThreads()} threads, best of ${repeat} runs; GFLOP/s count the full S*S square`);
  console.log('shape        pass      fast ms  GFLOP/s   ref ms  GFLOP/s  speed-up');
  for (const { name, B, S, D, H } of SHAPES) {
    const hd = D / H;
    const qkv = randomFloats(B * S * 3 * D, 1);
    const dout = randomFloats(B * S * D, 2);
    const out = new Float32Array(B * S * D);
    const qkvRot = new Float32Array(B * S * 3 * D);
    const probs = new Float32Array(B * H * S * S);
    const dqkv = new Float32Array(B * S * 3 * D);
    const forwardGflop = (4 * B * H * S * S * hd) / 1e9;
    const backwardGflop = 2 * forwardGflop;

    const passes = [
      {
        pass: 'forward',
        gflop: forwardGflop,
        fast: () => attentionForward(out, qkvRot, probs, qkv, B, S, D, H, THETA),
        reference: () => attentionForwardReference(out, qkvRot, probs, qkv, B, S, D, H, THETA),
      },
      {
        pass: 'backward',
        gflop: backwardGflop,
        fast: () => attentionBackward(dqkv, dout, qkvRot, probs, B, S, D, H, THETA),
        reference: () => attentionBackwardReference(dqkv, dout, qkvRot, probs, B, S, D, H, THETA),
      },
    ];
    for (const { pass, gflop, fast, reference } of passes) {
      const fastSeconds = bestSeconds(fast, repeat);
      const referenceSeconds = bestSeconds(reference, repeat);
      console.log(
        [
          name.padEnd(12),
          pass.padEnd(8),
          (fastSeconds * 1e3).toFixed(2).padStart(8),
          (gflop / fastSeconds).toFixed(1).padStart(8),
          (referenceSeconds * 1e3).toFixed(2).padStart(8),
          (gflop / referenceSeconds).toFixed(1).padStart(8),
          `${(referenceSeconds / fastSeconds).toFixed(2)}x`.padStart(9),
        ].join(' '),
      );
    }
  }
}

main();
