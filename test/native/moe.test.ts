/**
 * Tests the native MoE layer against the float64 reference. Forward output,
 * every gradient and the routing statistics are checked for each recompute
 * strategy, each rounding policy and the plain baseline. Further tests cover
 * edge cases, determinism across thread counts, async calls and memory.
 */
import { afterEach, describe, expect, it } from 'vitest';
import {
  moeBackward,
  moeBackwardAsync,
  moeBaselineBackward,
  moeBaselineForward,
  moeForward,
  moeForwardAsync,
  type MoeForwardResult,
  type MoeGrads,
  type MoeOptions,
  type MoeRounding,
  type MoeStrategy,
  type MoeWeights,
} from '../../src/native/moe.js';
import { setNumThreads, tileSize } from '../../src/native/core.js';
import { referenceMoe, type ReferenceOptions } from '../helpers/moe_reference.js';
import { expectClose, makeRandom, randomArray } from '../helpers/numeric.js';

const TOLERANCE = 1e-4;

interface Case {
  x_TD: Float32Array;
  weights: MoeWeights;
  dout_TD: Float32Array;
  options: MoeOptions;
}

function makeCase(options: MoeOptions, seed: number): Case {
  const { tokens: T, width: D, experts: E, expertWidth: N } = options;
  const random = makeRandom(seed);
  return {
    x_TD: randomArray(random, T * D),
    weights: {
      router_ED: randomArray(random, E * D),
      w1_E2ND: randomArray(random, E * 2 * N * D, 1 / Math.sqrt(D)),
      w2_EDN: randomArray(random, E * D * N, 1 / Math.sqrt(N)),
    },
    dout_TD: randomArray(random, T * D),
    options,
  };
}

function zeroGrads(o: MoeOptions): MoeGrads {
  return {
    dx_TD: new Float32Array(o.tokens * o.width),
    dRouter_ED: new Float32Array(o.experts * o.width),
    dw1_E2ND: new Float32Array(o.experts * 2 * o.expertWidth * o.width),
    dw2_EDN: new Float32Array(o.experts * o.width * o.expertWidth),
  };
}

function referenceOptions(o: MoeOptions): ReferenceOptions {
  return {
    tokens: o.tokens,
    width: o.width,
    experts: o.experts,
    topK: o.topK,
    expertWidth: o.expertWidth,
    gate: o.gate ?? 'renormalize',
    rounding: o.rounding ?? 'none',
    tile: o.tile ?? tileSize(),
    balanceLoss: o.balanceLoss ?? 0,
    zLoss: o.zLoss ?? 0,
  };
}

type Runner = 'baseline' | MoeStrategy;

function runNative(c: Case, runner: Runner): { forward: MoeForwardResult; grads: MoeGrads } {
  const options = runner === 'baseline' ? c.options : { ...c.options, strategy: runner };
  const grads = zeroGrads(c.options);
  if (runner === 'baseline') {
    const forward = moeBaselineForward(c.x_TD, c.weights, options);
    moeBaselineBackward(forward.context!, c.dout_TD, c.weights, grads);
    return { forward, grads };
  }
  const forward = moeForward(c.x_TD, c.weights, options);
  moeBackward(forward.context!, c.dout_TD, c.weights, grads);
  return { forward, grads };
}

function expectMatchesReference(c: Case, runner: Runner): { forward: MoeForwardResult; grads: MoeGrads } {
  const result = runNative(c, runner);
  const expected = referenceMoe(c.x_TD, c.weights, referenceOptions(c.options), c.dout_TD);
  const { forward, grads } = result;
  expect(Array.from(forward.stats.tokensPerExpert)).toEqual(expected.tokensPerExpert);
  expect(forward.stats.droppedTokens).toBe(expected.droppedTokens);
  expect(forward.stats.addedTokens).toBe(expected.addedTokens);
  expect(forward.stats.tokensWithoutExpert).toBe(expected.tokensWithoutExpert);
  expect(forward.stats.paddingWaste).toBeCloseTo(expected.paddingWaste, 12);
  expect(forward.stats.paddingWasteUnrounded).toBeCloseTo(expected.paddingWasteUnrounded, 12);
  expect(Math.abs(forward.stats.balanceLoss - expected.balanceLoss)).toBeLessThan(1e-5 * Math.max(1, expected.balanceLoss));
  expect(Math.abs(forward.stats.zLoss - expected.zLoss)).toBeLessThan(1e-5 * Math.max(1, expected.zLoss));
  expectClose('out', forward.out_TD, expected.out, TOLERANCE);
  expectClose('dx', grads.dx_TD, expected.dx, TOLERANCE);
  expectClose('dRouter', grads.dRouter_ED, expected.dRouter, TOLERANCE);
  expectClose('dw1', grads.dw1_E2ND, expected.dw1, TOLERANCE);
  expectClose('dw2', grads.dw2_EDN, expected.dw2, TOLERANCE);
  return result;
}

function sameBits(a: Float32Array, b: Float32Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
}

afterEach(() => setNumThreads(0));

describe('moe layer vs reference', () => {
  const runners: Runner[] = ['snax', 'cache-all', 'full', 'baseline'];
  const roundings: MoeRounding[] = ['none', 'up', 'down', 'nearest'];
  for (const runner of runners)
    for (const rounding of roundings) {
      it(`${runner}, rounding ${rounding}`, () => {
        const options: MoeOptions = { tokens: 45, width: 16, experts: 5, topK: 2, expertWidth: 12, rounding, tile: 8, balanceLoss: 0.01, zLoss: 0.001 };
        const c = makeCase(options, 11);
        const { forward } = expectMatchesReference(c, runner);
        if (rounding !== 'none') expect(forward.stats.addedTokens + forward.stats.droppedTokens).toBeGreaterThan(0);
      });
    }

  it('softmax gate with up rounding', () => {
    expectMatchesReference(makeCase({ tokens: 40, width: 12, experts: 4, topK: 2, expertWidth: 8, gate: 'softmax', rounding: 'up', tile: 8, zLoss: 0.01 }, 12), 'snax');
  });

  it('expert width over one column block', () => {
    const options: MoeOptions = { tokens: 10, width: 6, experts: 3, topK: 2, expertWidth: 300, rounding: 'none' };
    for (const runner of ['snax', 'full', 'cache-all'] as const) expectMatchesReference(makeCase(options, 13), runner);
  });
});

describe('moe layer edge cases', () => {
  it('expert with no tokens has zero weight gradients', () => {
    const options: MoeOptions = { tokens: 20, width: 8, experts: 4, topK: 2, expertWidth: 6 };
    const c = makeCase(options, 21);
    const random = makeRandom(22);
    c.x_TD = Float32Array.from(c.x_TD, () => random() + 0.1);
    for (let d = 0; d < 8; d++) {
      c.weights.router_ED[3 * 8 + d] = -1;
      for (const e of [0, 1, 2]) c.weights.router_ED[e * 8 + d] = Math.abs(c.weights.router_ED[e * 8 + d]);
    }
    const { forward, grads } = expectMatchesReference(c, 'snax');
    expect(forward.stats.tokensPerExpert[3]).toBe(0);
    expect(forward.stats.minLoad).toBe(0);
    const w1Size = 2 * 6 * 8;
    const w2Size = 8 * 6;
    expect(grads.dw1_E2ND.subarray(3 * w1Size).every((v) => v === 0)).toBe(true);
    expect(grads.dw2_EDN.subarray(3 * w2Size).every((v) => v === 0)).toBe(true);
  });

  it('fewer tokens than one tile', () => {
    for (const rounding of ['none', 'up'] as const) {
      const options: MoeOptions = { tokens: 5, width: 8, experts: 4, topK: 2, expertWidth: 6, rounding };
      expect(options.tokens).toBeLessThan(tileSize());
      const { forward } = expectMatchesReference(makeCase(options, 31), 'snax');
      if (rounding === 'up') expect(forward.stats.maxLoad).toBe(5);
    }
  });

  it('K equal to E', () => {
    expectMatchesReference(makeCase({ tokens: 16, width: 8, experts: 3, topK: 3, expertWidth: 4, balanceLoss: 0.1 }, 41), 'snax');
  });

  it('K = 1 with softmax gate', () => {
    for (const runner of ['snax', 'cache-all', 'full', 'baseline'] as const)
      expectMatchesReference(makeCase({ tokens: 30, width: 8, experts: 4, topK: 1, expertWidth: 6, gate: 'softmax' }, 51), runner);
  });

  it('tied logits go to the lower expert', () => {
    const options: MoeOptions = { tokens: 12, width: 8, experts: 4, topK: 1, expertWidth: 4, gate: 'softmax' };
    const c = makeCase(options, 61);
    c.weights.router_ED.fill(0.25);
    const { forward } = expectMatchesReference(c, 'snax');
    expect(Array.from(forward.stats.tokensPerExpert)).toEqual([12, 0, 0, 0]);
  });

  it('D = 100 and N = 72', () => {
    expectMatchesReference(makeCase({ tokens: 24, width: 100, experts: 4, topK: 2, expertWidth: 72, rounding: 'nearest', tile: 4 }, 71), 'snax');
  });

  it('down rounding empties an expert and leaves tokens without expert', () => {
    const options: MoeOptions = { tokens: 14, width: 8, experts: 3, topK: 1, expertWidth: 4, gate: 'softmax', rounding: 'down', tile: 4 };
    const c = makeCase(options, 81);
    const before = moeForward(c.x_TD, c.weights, { ...options, rounding: 'none', saveForBackward: false });
    expect(Math.min(...before.stats.tokensPerExpert), 'some expert starts below one tile').toBeLessThan(4);
    const { forward } = expectMatchesReference(c, 'snax');
    expect(forward.stats.minLoad).toBe(0);
    expect(forward.stats.tokensWithoutExpert).toBeGreaterThan(0);
    expect(forward.stats.droppedTokens).toBe(forward.stats.tokensWithoutExpert);
  });
});

describe('moe layer pair ranges', () => {
  // Y takes 4*P*D = 16 MiB here, over the 8 MiB of scratch rows the layer
  // reuses, so forward and the dx pass run several ranges of pairs, and the
  // experts (about 4096 pairs each) are cut between ranges.
  const options: MoeOptions = { tokens: 8192, width: 512, experts: 2, topK: 1, expertWidth: 2, gate: 'softmax' };

  it('snax matches reference over ranges', () => {
    const c = makeCase(options, 151);
    const { forward } = expectMatchesReference(c, 'snax');
    expect(forward.memory.peakTemporaryBytes).toBeLessThan(4 * options.tokens * options.width);
  });

  it('ranges match one range bitwise', () => {
    const c = makeCase(options, 152);
    const ranged = moeForward(c.x_TD, c.weights, { ...options, strategy: 'snax' });
    const whole = moeForward(c.x_TD, c.weights, { ...options, strategy: 'cache-all' });
    ranged.context!.release();
    whole.context!.release();
    expect(sameBits(ranged.out_TD, whole.out_TD)).toBe(true);
  });
});

describe('moe layer determinism', () => {
  for (const runner of ['snax', 'cache-all', 'full', 'baseline'] as const) {
    it(`${runner} is bitwise identical for 1, 2 and 3 threads`, () => {
      const c = makeCase({ tokens: 256, width: 64, experts: 4, topK: 2, expertWidth: 40, rounding: 'up', tile: 16, balanceLoss: 0.01, zLoss: 0.001 }, 91);
      const results = [1, 2, 3].map((threads) => {
        setNumThreads(threads);
        return runNative(c, runner);
      });
      for (const other of results.slice(1)) {
        expect(sameBits(other.forward.out_TD, results[0].forward.out_TD), 'out').toBe(true);
        expect(sameBits(other.grads.dx_TD, results[0].grads.dx_TD), 'dx').toBe(true);
        expect(sameBits(other.grads.dRouter_ED, results[0].grads.dRouter_ED), 'dRouter').toBe(true);
        expect(sameBits(other.grads.dw1_E2ND, results[0].grads.dw1_E2ND), 'dw1').toBe(true);
        expect(sameBits(other.grads.dw2_EDN, results[0].grads.dw2_EDN), 'dw2').toBe(true);
      }
    });
  }
});

describe('moe layer async and memory', () => {
  it('async matches sync bitwise', async () => {
    const c = makeCase({ tokens: 40, width: 16, experts: 4, topK: 2, expertWidth: 8, rounding: 'up', tile: 8 }, 101);
    const sync = runNative(c, 'snax');
    const forward = await moeForwardAsync(c.x_TD, c.weights, c.options);
    const grads = zeroGrads(c.options);
    await moeBackwardAsync(forward.context!, c.dout_TD, c.weights, grads);
    expect(sameBits(forward.out_TD, sync.forward.out_TD), 'out').toBe(true);
    expect(sameBits(grads.dx_TD, sync.grads.dx_TD), 'dx').toBe(true);
    expect(sameBits(grads.dw1_E2ND, sync.grads.dw1_E2ND), 'dw1').toBe(true);
  });

  it('async forward rejects non-finite logits', async () => {
    const c = makeCase({ tokens: 8, width: 4, experts: 2, topK: 1, expertWidth: 4, gate: 'softmax' }, 102);
    c.x_TD[5 * 4] = Number.NaN;
    await expect(moeForwardAsync(c.x_TD, c.weights, c.options)).rejects.toMatchObject({ code: 'NON_FINITE' });
  });

  it('saved bytes match each strategy table', () => {
    const options: MoeOptions = { tokens: 32, width: 16, experts: 4, topK: 2, expertWidth: 8 };
    const { tokens: T, width: D, experts: E, topK: K, expertWidth: N } = options;
    const P = T * K;
    const routingBytes = 8 * T * K + 4 * (E + 1) + 12 * P;
    const expected: Record<MoeStrategy, number> = {
      full: routingBytes,
      snax: routingBytes + 8 * P * N,
      'cache-all': routingBytes + 8 * P * N + 4 * P * N + 4 * P * D,
    };
    const c = makeCase(options, 111);
    for (const strategy of ['snax', 'cache-all', 'full'] as const) {
      const forward = moeForward(c.x_TD, c.weights, { ...options, strategy });
      expect(forward.memory.savedBytes, strategy).toBe(expected[strategy]);
      expect(forward.context!.savedBytes, strategy).toBe(expected[strategy]);
      expect(forward.memory.peakTemporaryBytes, strategy).toBeGreaterThan(0);
      forward.context!.release();
    }
  });

  it('saveForBackward false keeps nothing', () => {
    const c = makeCase({ tokens: 16, width: 8, experts: 4, topK: 2, expertWidth: 4, saveForBackward: false }, 121);
    const forward = moeForward(c.x_TD, c.weights, c.options);
    expect(forward.context).toBeNull();
    expect(forward.memory.savedBytes).toBe(0);
  });

  it('release is idempotent and blocks backward', () => {
    const c = makeCase({ tokens: 16, width: 8, experts: 4, topK: 2, expertWidth: 4 }, 131);
    const forward = moeForward(c.x_TD, c.weights, c.options);
    forward.context!.release();
    forward.context!.release();
    expect(() => moeBackward(forward.context!, c.dout_TD, c.weights, zeroGrads(c.options))).toThrow(/released or already used/);
  });

  it('backward consumes the context', () => {
    const c = makeCase({ tokens: 16, width: 8, experts: 4, topK: 2, expertWidth: 4 }, 141);
    const forward = moeForward(c.x_TD, c.weights, c.options);
    moeBackward(forward.context!, c.dout_TD, c.weights, zeroGrads(c.options));
    expect(() => moeBackward(forward.context!, c.dout_TD, c.weights, zeroGrads(c.options))).toThrow(/released or already used/);
  });
});
