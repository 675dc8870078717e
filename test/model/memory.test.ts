import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkTrainingMemory, estimateTrainingMemory } from '../../src/model/memory.js';
import { loadRecipe } from '../../src/recipe/load.js';
import { repoRoot } from '../helpers/run.js';

const brownTiny = join(repoRoot, 'recipes/brown-tiny.yaml');

describe('training memory estimate', () => {
  it('counts 16 bytes per parameter', async () => {
    const recipe = await loadRecipe(brownTiny);
    const estimate = estimateTrainingMemory(recipe);
    expect(estimate.parameterBytes).toBe(16 * 3_490_944);
    expect(estimate.activationBytes).toBeGreaterThan(0);
    expect(estimate.totalBytes).toBe(estimate.parameterBytes + estimate.activationBytes);
  });

  it('accepts brown-tiny on 24 GiB', async () => {
    const recipe = await loadRecipe(brownTiny);
    expect(() => checkTrainingMemory(recipe, 24 * 1024 ** 3)).not.toThrow();
  });

  it('rejects a model larger than memory', async () => {
    const recipe = await loadRecipe(brownTiny, ['model.width=4096', 'model.heads=32', 'model.layers=48']);
    expect(() => checkTrainingMemory(recipe, 24 * 1024 ** 3)).toThrow(/needs about [\d.]+ GiB[\s\S]*model\.width=4096/);
  });

  it('names moe.experts when experts dominate', async () => {
    const recipe = await loadRecipe(brownTiny, ['moe.experts=100000000']);
    expect(() => checkTrainingMemory(recipe, 24 * 1024 ** 3)).toThrow(/moe\.experts=100000000/);
  });

  it('rejects a buffer longer than a typed array', async () => {
    const recipe = await loadRecipe(brownTiny, ['train.batch_size=99999999']);
    expect(() => checkTrainingMemory(recipe, 1e15)).toThrow(/more than the \d+ one array can hold/);
  });
});
