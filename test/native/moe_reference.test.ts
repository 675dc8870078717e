/**
 * Checks the float64 MoE reference's own gradients by central finite
 * differences, so that the native tests compare against verified numbers.
 */
import { describe, expect, it } from 'vitest';
import { referenceForward, referenceMoe, type ReferenceOptions, type ReferenceWeights } from '../helpers/moe_reference.js';
import { makeRandom } from '../helpers/numeric.js';

function randomFloat64(random: () => number, n: number, scale = 1): Float64Array {
  return Float64Array.from({ length: n }, () => (random() * 2 - 1) * scale);
}

const cases: Array<{ name: string; options: ReferenceOptions }> = [
  {
    name: 'renormalize, up rounding, aux losses',
    options: { tokens: 12, width: 5, experts: 4, topK: 2, expertWidth: 3, gate: 'renormalize', rounding: 'up', tile: 4, balanceLoss: 0.3, zLoss: 0.2 },
  },
  {
    name: 'renormalize, down rounding',
    options: { tokens: 12, width: 5, experts: 4, topK: 2, expertWidth: 3, gate: 'renormalize', rounding: 'down', tile: 4, balanceLoss: 0, zLoss: 0 },
  },
  {
    name: 'softmax gate, nearest rounding',
    options: { tokens: 10, width: 4, experts: 3, topK: 1, expertWidth: 3, gate: 'softmax', rounding: 'nearest', tile: 3, balanceLoss: 0.1, zLoss: 0.05 },
  },
];

describe('moe reference gradients', () => {
  for (const { name, options } of cases) {
    it(`match finite differences: ${name}`, () => {
      const { tokens: T, width: D, experts: E, expertWidth: N } = options;
      const random = makeRandom(T * 31 + E);
      const x = randomFloat64(random, T * D);
      const weights = { router_ED: randomFloat64(random, E * D), w1_E2ND: randomFloat64(random, E * 2 * N * D), w2_EDN: randomFloat64(random, E * D * N) };
      const dout = randomFloat64(random, T * D);
      const analytic = referenceMoe(x, weights, options, dout);
      expect(analytic.addedTokens + analytic.droppedTokens, 'rounding changed no pair').toBeGreaterThan(0);

      const tensors: Array<[string, Float64Array, Float64Array]> = [
        ['dx', x, analytic.dx],
        ['dRouter', weights.router_ED, analytic.dRouter],
        ['dw1', weights.w1_E2ND, analytic.dw1],
        ['dw2', weights.w2_EDN, analytic.dw2],
      ];
      const step = 1e-6;
      for (const [label, values, gradient] of tensors) {
        const scale = Math.max(1e-3, ...Array.from(gradient, Math.abs));
        let worst = 0;
        for (let sample = 0; sample < 16; sample++) {
          const i = Math.floor(random() * values.length);
          const saved = values[i];
          values[i] = saved + step;
          const plus = referenceForward(x, weights as ReferenceWeights, options, dout).loss;
          values[i] = saved - step;
          const minus = referenceForward(x, weights as ReferenceWeights, options, dout).loss;
          values[i] = saved;
          const numeric = (plus - minus) / (2 * step);
          worst = Math.max(worst, Math.abs(numeric - gradient[i]) / scale);
        }
        expect(worst, `${label}: finite-difference error ${worst}`).toBeLessThan(1e-6);
      }
    });
  }
});
