import { describe, expect, it } from 'vitest';
import { parseRecipe } from '../../src/recipe/load.js';
import { describeModel } from '../../src/recipe/size.js';
import { formatBytes, formatCount } from '../../src/recipe/report.js';

const TEXT = `
model: {width: 64, layers: 3, heads: 4, seq_len: 16}
moe: {experts: 8, active: 2, expert_width: 16}
data: {dir: x}
train: {steps: 10, batch_size: 2}
`;

/** Lists every parameter tensor of the model as [name, rows, columns] and sums them. */
function referenceParams(V: number, D: number, L: number, E: number, K: number, N: number, F: number, denseFirst: boolean) {
  const tensors: Array<[string, number, number, boolean]> = [['wte', V, D, true]];
  for (let layer = 0; layer < L; layer++) {
    tensors.push(['attn_norm', 1, D, true], ['qkv', 3 * D, D, true], ['proj', D, D, true], ['ffn_norm', 1, D, true]);
    if (layer === 0 && denseFirst) {
      tensors.push(['dense.w1', 2 * F, D, true], ['dense.w2', D, F, true]);
    } else {
      tensors.push(['router', E, D, true]);
      for (let e = 0; e < E; e++) tensors.push(['w1', 2 * N, D, e < K], ['w2', D, N, e < K]);
    }
  }
  tensors.push(['norm', 1, D, true], ['lm_head', V, D, true]);
  const total = tensors.reduce((sum, [, rows, columns]) => sum + rows * columns, 0);
  const active = tensors.reduce((sum, [, rows, columns, used]) => sum + (used ? rows * columns : 0), 0);
  const matmul = tensors.reduce((sum, [name, rows, columns, used]) =>
    sum + (used && name !== 'wte' && !name.includes('norm') ? rows * columns : 0), 0);
  return { total, active, matmul };
}

describe('describeModel', () => {
  it('counts moe parameters', () => {
    const size = describeModel(parseRecipe(TEXT, 't.yaml', []));
    const reference = referenceParams(256, 64, 3, 8, 2, 16, 32, false);
    expect(size.totalParams).toBe(reference.total);
    expect(size.activeParams).toBe(reference.active);
    expect(size.matmulParamsPerToken).toBe(reference.matmul);
    expect(size.moeLayers).toBe(3);
  });

  it('counts a dense first layer', () => {
    const size = describeModel(parseRecipe(TEXT, 't.yaml', ['model.dense_first_layer=true', 'model.dense_width=96']));
    const reference = referenceParams(256, 64, 3, 8, 2, 16, 96, true);
    expect(size.totalParams).toBe(reference.total);
    expect(size.activeParams).toBe(reference.active);
    expect(size.moeLayers).toBe(2);
    expect(size.denseLayers).toBe(1);
  });

  it('counts training flops', () => {
    const size = describeModel(parseRecipe(TEXT, 't.yaml', []));
    const reference = referenceParams(256, 64, 3, 8, 2, 16, 32, false);
    expect(size.flopsPerToken).toBe(6 * reference.matmul + 6 * 3 * 16 * 64);
  });

  it('sizes activation memory', () => {
    const size = describeModel(parseRecipe(TEXT, 't.yaml', []));
    const T = 2 * 16;
    const D = 64;
    const K = 2;
    const N = 16;
    expect(size.tokensPerMicroBatch).toBe(T);
    expect(size.activation.snax.bytesPerToken).toBe(4 * D + 8 * K * N + 20 * K);
    expect(size.activation['cache-all'].bytesPerToken).toBe(4 * D + 12 * K * N + 4 * K * D + 20 * K);
    expect(size.activation.full.bytesPerToken).toBe(4 * D + 20 * K);
    expect(size.activation.snax.bytesPerLayer).toBe((4 * D + 8 * K * N + 20 * K) * T);
    expect(size.activation.snax.bytesTotal).toBe((4 * D + 8 * K * N + 20 * K) * T * 3);
  });

  it('keeps snax cache flat in granularity', () => {
    const coarse = describeModel(parseRecipe(TEXT, 't.yaml', []));
    const fine = describeModel(parseRecipe(TEXT, 't.yaml', ['moe.experts=32', 'moe.active=8', 'moe.expert_width=4']));
    expect(fine.activation.snax.bytesPerToken - 20 * 8).toBe(coarse.activation.snax.bytesPerToken - 20 * 2);
    expect(fine.activation['cache-all'].bytesPerToken).toBeGreaterThan(coarse.activation['cache-all'].bytesPerToken);
    expect(fine.flopsPerToken).toBe(coarse.flopsPerToken + 6 * 3 * (32 - 8) * 64);
  });
});

describe('report formats', () => {
  it('formats counts', () => {
    expect(formatCount(999)).toBe('999');
    expect(formatCount(3_490_944)).toBe('3,490,944 (3.49M)');
  });

  it('formats bytes', () => {
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536 * 1024)).toBe('1.50 MiB');
  });
});
