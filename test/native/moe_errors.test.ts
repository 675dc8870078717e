/**
 * Bad calls into the MoE layer: each must throw a SnaxError with a stable
 * code and a message that names the value and what was expected.
 */
import { describe, expect, it } from 'vitest';
import { SnaxError } from '../../src/errors.js';
import { moeBackward, moeBaselineBackward, moeForward, type MoeOptions, type MoeWeights } from '../../src/native/moe.js';
import { makeRandom, randomArray } from '../helpers/numeric.js';

const options: MoeOptions = { tokens: 8, width: 4, experts: 3, topK: 2, expertWidth: 4 };

function weightsFor(o: MoeOptions): MoeWeights {
  const random = makeRandom(7);
  return {
    router_ED: randomArray(random, o.experts * o.width),
    w1_E2ND: randomArray(random, o.experts * 2 * o.expertWidth * o.width),
    w2_EDN: randomArray(random, o.experts * o.width * o.expertWidth),
  };
}

function errorOf(call: () => unknown): SnaxError {
  try {
    call();
  } catch (error) {
    expect(error).toBeInstanceOf(SnaxError);
    return error as SnaxError;
  }
  throw new Error('expected the call to throw');
}

describe('moe bad input', () => {
  const x = randomArray(makeRandom(3), options.tokens * options.width);
  const weights = weightsFor(options);

  it('rejects x shape mismatch', () => {
    const error = errorOf(() => moeForward(new Float32Array(31), weights, options));
    expect(error.code).toBe('SHAPE_MISMATCH');
    expect(error.message).toBe('x_TD has 31 elements, expected 32');
  });

  it('rejects w1 shape mismatch', () => {
    const error = errorOf(() => moeForward(x, { ...weights, w1_E2ND: new Float32Array(10) }, options));
    expect(error.code).toBe('SHAPE_MISMATCH');
    expect(error.message).toMatch(/w1_E2ND has 10 elements, expected 96/);
  });

  it('rejects K > E', () => {
    const error = errorOf(() => moeForward(x, weights, { ...options, topK: 4 }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe('options.topK must be an integer in [1, 3], got 4');
  });

  it('rejects K < 1', () => {
    const error = errorOf(() => moeForward(x, weights, { ...options, topK: 0 }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/options.topK must be an integer in \[1, 3\], got 0/);
  });

  it('rejects tile < 1', () => {
    const error = errorOf(() => moeForward(x, weights, { ...options, rounding: 'up', tile: 0 }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe('options.tile must be an integer >= 1, got 0');
  });

  it('rejects non-finite logits naming the token', () => {
    const bad = Float32Array.from(x);
    bad[5 * options.width + 2] = Number.POSITIVE_INFINITY;
    const error = errorOf(() => moeForward(bad, weights, options));
    expect(error.code).toBe('NON_FINITE');
    expect(error.message).toMatch(/router logits of token 5 are not finite/);
  });

  it('rejects wrong dtype', () => {
    const error = errorOf(() => moeForward(new Float64Array(32) as unknown as Float32Array, weights, options));
    expect(error.code).toBe('INVALID_DTYPE');
    expect(error.message).toBe('x_TD must be a Float32Array, got Float64Array');
  });

  it('rejects K = 1 with renormalize', () => {
    const error = errorOf(() => moeForward(x, weights, { ...options, topK: 1 }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/softmax over one logit is always 1/);
    expect(error.fix).toMatch(/gate 'softmax'/);
  });

  it('rejects an unknown strategy', () => {
    const error = errorOf(() => moeForward(x, weights, { ...options, strategy: 'lazy' as never }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe(`options.strategy must be one of 'snax', 'cache-all', 'full', got "lazy"`);
  });

  it('rejects a negative loss coefficient', () => {
    const error = errorOf(() => moeForward(x, weights, { ...options, zLoss: -1 }));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toBe('options.zLoss must be a finite number >= 0, got -1');
  });

  it('rejects backward grads shape mismatch', () => {
    const forward = moeForward(x, weights, options);
    const grads = {
      dx_TD: new Float32Array(32),
      dRouter_ED: new Float32Array(12),
      dw1_E2ND: new Float32Array(96),
      dw2_EDN: new Float32Array(47),
    };
    const error = errorOf(() => moeBackward(forward.context!, new Float32Array(32), weights, grads));
    expect(error.code).toBe('SHAPE_MISMATCH');
    expect(error.message).toBe('dw2_EDN has 47 elements, expected 48');
    forward.context!.release();
  });

  it('rejects a context from the other layer', () => {
    const forward = moeForward(x, weights, options);
    const grads = { dx_TD: new Float32Array(32), dRouter_ED: new Float32Array(12), dw1_E2ND: new Float32Array(96), dw2_EDN: new Float32Array(48) };
    const error = errorOf(() => moeBaselineBackward(forward.context!, new Float32Array(32), weights, grads));
    expect(error.code).toBe('INVALID_ARGUMENT');
    expect(error.message).toMatch(/pass it to moeBackward/);
    forward.context!.release();
  });
});
