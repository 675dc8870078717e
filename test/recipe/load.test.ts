import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SnaxError } from '../../src/errors.js';
import { loadRecipe, parseRecipe } from '../../src/recipe/load.js';
import { RecipeError } from '../../src/recipe/problems.js';
import { formatResolvedRecipe } from '../../src/recipe/report.js';

// Line numbers in the expected messages below refer to this text.
const BASE = [
  'name: t', //                 1
  'model:', //                  2
  '  width: 64', //             3
  '  layers: 2', //             4
  '  heads: 4', //              5
  '  seq_len: 16', //           6
  'moe:', //                    7
  '  experts: 8', //            8
  '  active: 2', //             9
  '  expert_width: 16', //     10
  'data:', //                  11
  '  dir: runs/data/x', //     12
  'train:', //                 13
  '  steps: 10', //            14
  '  batch_size: 2', //        15
].join('\n') + '\n';

function edit(from: string, to: string): string {
  expect(BASE).toContain(from);
  return BASE.replace(from, to);
}

function failure(text: string, overrides: string[] = []): SnaxError {
  try {
    parseRecipe(text, 'bad.yaml', overrides);
  } catch (error) {
    expect(error).toBeInstanceOf(SnaxError);
    return error as SnaxError;
  }
  throw new Error('parseRecipe accepted an invalid recipe');
}

describe('recipe files', () => {
  const folder = join(import.meta.dirname, '..', '..', 'recipes');
  const files = readdirSync(folder).filter((file) => file.endsWith('.yaml'));

  it('finds the recipes', () => {
    expect(files).toContain('smoke.yaml');
    expect(files).toContain('brown-tiny.yaml');
  });

  for (const file of files) {
    it(`loads ${file}`, async () => {
      const recipe = await loadRecipe(join(folder, file));
      expect(recipe.name).toBe(file.replace(/\.yaml$/, ''));
      expect(recipe.data.tokenizer).toBe('byte');
      expect(recipe.model.vocab_size).toBe(256);
      expect(recipe.moe.active).toBeLessThanOrEqual(recipe.moe.experts);
    });
  }

  it('smoke has the small shape', async () => {
    const recipe = await loadRecipe(join(folder, 'smoke.yaml'));
    expect(recipe.model.width).toBe(32);
    expect(recipe.moe.experts).toBe(8);
    expect(recipe.moe.active).toBe(2);
    expect(recipe.moe.expert_width).toBe(16);
    expect(recipe.train.steps).toBe(30);
    expect(recipe.output).toBe('runs/smoke');
    expect(recipe.data.prepare?.inputs).toEqual(['brown']);
  });

  it('brown-tiny is fine-grained', async () => {
    const recipe = await loadRecipe(join(folder, 'brown-tiny.yaml'));
    expect(recipe.moe.experts).toBe(32);
    expect(recipe.moe.active).toBe(4);
    expect(recipe.model.width).toBe(128);
    expect(recipe.data.dir).toBe('runs/data/brown-byte');
  });
});

describe('parseRecipe defaults', () => {
  it('fills every default', () => {
    const recipe = parseRecipe(BASE, 'dir/my-run.yml', []);
    expect(recipe.name).toBe('t');
    expect(recipe.output).toBe('runs/t');
    expect(recipe.model.vocab_size).toBe(256);
    expect(recipe.model.dense_width).toBe(2 * 16);
    expect(recipe.model.rope_theta).toBe(10000);
    expect(recipe.moe.gate).toBe('renormalize');
    expect(recipe.moe.recompute).toBe('snax');
    expect(recipe.moe.rounding).toBe('none');
    expect(recipe.data.tokenizer).toBe('byte');
    expect(recipe.data.prepare).toBeUndefined();
    expect(recipe.optim.beta2).toBe(0.95);
    expect(recipe.train.grad_accum).toBe(1);
    expect(recipe.eval.every).toBe(100);
    expect(recipe.checkpoint.keep).toBe(2);
    expect(recipe.log.every).toBe(1);
  });

  it('names the run after the file', () => {
    const recipe = parseRecipe(BASE.replace('name: t\n', ''), 'dir/my-run.yml', []);
    expect(recipe.name).toBe('my-run');
    expect(recipe.output).toBe('runs/my-run');
  });

  it('resolves the granularity form', () => {
    const text = edit('  experts: 8\n  active: 2\n  expert_width: 16\n',
      '  granularity: {dense_width: 256, experts: 8, active: 1, granularity: 4}\n');
    const recipe = parseRecipe(text, 'g.yaml', []);
    expect(recipe.moe.experts).toBe(32);
    expect(recipe.moe.active).toBe(4);
    expect(recipe.moe.expert_width).toBe(64);
    expect(recipe.moe.granularity).toEqual({ dense_width: 256, experts: 8, active: 1, granularity: 4 });
    expect(recipe.model.dense_width).toBe(256);
  });

  it('derives steps from tokens', () => {
    const text = edit('  steps: 10\n  batch_size: 2\n', '  tokens: 1000\n  batch_size: 2\n  grad_accum: 3\n');
    const recipe = parseRecipe(text, 't.yaml', []);
    expect(recipe.train.tokens).toBe(1000);
    expect(recipe.train.steps).toBe(Math.ceil(1000 / (2 * 3 * 16)));
  });

  it('takes the gpt2 vocabulary size', () => {
    const recipe = parseRecipe(edit('  dir: runs/data/x\n', '  dir: runs/data/x\n  tokenizer: gpt2\n'), 't.yaml', []);
    expect(recipe.model.vocab_size).toBe(50257);
  });

  it('prints yaml that loads again', () => {
    const text = edit('  experts: 8\n  active: 2\n  expert_width: 16\n', '  granularity: {dense_width: 64, experts: 4, active: 1, granularity: 2}\n')
      .replace('  steps: 10\n', '  tokens: 5000\n');
    const recipe = parseRecipe(text, 't.yaml', []);
    expect(parseRecipe(formatResolvedRecipe(recipe), 'again.yaml', [])).toEqual(recipe);
  });
});

describe('parseRecipe --set', () => {
  it('keeps yaml types', () => {
    const recipe = parseRecipe(BASE, 't.yaml', [
      'optim.lr=1e-3',
      'model.dense_first_layer=true',
      'data.prepare.inputs=[brown, notes.txt]',
      'moe.recompute=cache-all',
      'name=renamed',
    ]);
    expect(recipe.optim.lr).toBe(0.001);
    expect(recipe.model.dense_first_layer).toBe(true);
    expect(recipe.data.prepare?.inputs).toEqual(['brown', 'notes.txt']);
    expect(recipe.moe.recompute).toBe('cache-all');
    expect(recipe.name).toBe('renamed');
  });

  it('applies the last value', () => {
    const recipe = parseRecipe(BASE, 't.yaml', ['moe.active=3', 'moe.active=4']);
    expect(recipe.moe.active).toBe(4);
  });

  it('rejects an unknown path', () => {
    const error = failure(BASE, ['moe.activ=3']);
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('--set moe.activ=3: moe.activ = 3: unknown key in moe');
    expect(error.fix).toContain('did you mean "active"?');
  });

  it('rejects a wrong type', () => {
    const error = failure(BASE, ['train.steps=many']);
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('--set train.steps=many: train.steps = "many": wrong type (string); allowed: an integer >= 1');
  });

  it('rejects a missing equals sign', () => {
    const error = failure(BASE, ['moe.active']);
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('--set expects path=value');
  });

  it('rejects a path through a scalar', () => {
    const error = failure(BASE, ['model.width.size=3']);
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('--set model.width.size=3: model.width.size = 3: unknown key in model.width');
  });
});

describe('parseRecipe errors', () => {
  it('suggests a known key', () => {
    const error = failure(edit('  active: 2', '  activ: 2'));
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('bad.yaml:9:3: moe.activ = 2: unknown key in moe');
    expect(error.message).toContain('did you mean "active"?');
  });

  it('rejects a wrong type', () => {
    const error = failure(edit('  width: 64', '  width: wide'));
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('bad.yaml:3:10: model.width = "wide": wrong type (string); allowed: an integer >= 1');
  });

  it('rejects more active than experts', () => {
    const error = failure(edit('  active: 2', '  active: 9'));
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('bad.yaml:9:11: moe.active = 9: is more than the experts per layer (moe.experts = 8)');
    expect(error.message).toContain('allowed: an integer from 1 to 8');
  });

  it('rejects heads not dividing width', () => {
    const error = failure(edit('  heads: 4', '  heads: 5'));
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('bad.yaml:5:10: model.heads = 5: does not divide model.width (64)');
  });

  it('rejects an odd head size', () => {
    const error = failure(edit('  width: 64', '  width: 96').replace('  heads: 4', '  heads: 32'));
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('bad.yaml:5:10: model.heads = 32: gives head size 3, which is odd');
    expect(error.message).toContain('RoPE');
  });

  it('rejects a negative learning rate', () => {
    const error = failure(`${BASE}optim:\n  lr: -0.001\n`);
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('bad.yaml:17:7: optim.lr = -0.001: out of range; allowed: a number > 0');
  });

  it('rejects one active expert with renormalize', () => {
    const error = failure(edit('  active: 2', '  active: 1\n  gate: renormalize'));
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('bad.yaml:10:9: moe.gate = "renormalize": cannot be used with one active expert');
    expect(error.message).toContain('a softmax over one logit is always 1');
    expect(error.fix).toBe('set moe.gate to softmax, or raise moe.active');
  });

  it('accepts one active expert with softmax', () => {
    const recipe = parseRecipe(edit('  active: 2', '  active: 1\n  gate: softmax'), 't.yaml', []);
    expect(recipe.moe.gate).toBe('softmax');
  });

  it('rejects a bad enum value', () => {
    const error = failure(edit('  active: 2', '  active: 2\n  rounding: upp'));
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('bad.yaml:10:13: moe.rounding = "upp": not an allowed value; allowed: one of "none", "up", "down", "nearest"');
    expect(error.fix).toContain('did you mean "up"?');
  });

  it('reports a syntax error line', () => {
    const error = failure(edit('  width: 64', '  width: [64'));
    expect(error.code).toBe('RECIPE_SYNTAX');
    expect(error.message).toContain('bad.yaml:4:3: YAML syntax error');
  });

  it('rejects a duplicate key', () => {
    const error = failure(edit('  layers: 2', '  layers: 2\n  layers: 3'));
    expect(error.code).toBe('RECIPE_SYNTAX');
    expect(error.message).toContain('bad.yaml:5:3: YAML syntax error: Map keys must be unique');
  });

  it('rejects both moe forms', () => {
    const error = failure(edit('  expert_width: 16', '  expert_width: 16\n  granularity: {dense_width: 64, experts: 2, active: 1, granularity: 4}'));
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('bad.yaml:11:3: moe.granularity = {"dense_width":64,"experts":2,"active":1,"granularity":4}: given together with moe.experts, moe.active, moe.expert_width');
  });

  it('rejects granularity not dividing F', () => {
    const error = failure(edit('  experts: 8\n  active: 2\n  expert_width: 16\n',
      '  granularity:\n    dense_width: 64\n    experts: 4\n    active: 1\n    granularity: 3\n'));
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('bad.yaml:12:18: moe.granularity.granularity = 3: does not divide moe.granularity.dense_width (64)');
  });

  it('rejects a partial moe shape', () => {
    const error = failure(edit('  expert_width: 16\n', ''));
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('bad.yaml:8:3: moe.expert_width (missing): required key is missing');
  });

  it('rejects steps with tokens', () => {
    const error = failure(`${BASE}  tokens: 100\n`);
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('bad.yaml:16:3: train.tokens = 100: given together with train.steps');
  });

  it('rejects a byte vocabulary mismatch', () => {
    const error = failure(edit('  width: 64', '  width: 64\n  vocab_size: 300'));
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('bad.yaml:4:15: model.vocab_size = 300: does not match data.tokenizer byte');
  });

  it('rejects a small gpt2 vocabulary', () => {
    const error = failure(edit('  dir: runs/data/x', '  dir: runs/data/x\n  tokenizer: gpt2').replace('  width: 64', '  width: 64\n  vocab_size: 256'));
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('model.vocab_size = 256: is smaller than the 50257 tokens of data.tokenizer gpt2');
  });

  it('rejects zero grad_accum', () => {
    const error = failure(`${BASE}  grad_accum: 0\n`);
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('bad.yaml:16:15: train.grad_accum = 0: out of range; allowed: an integer >= 1');
  });

  it('rejects a negative eval interval', () => {
    const error = failure(`${BASE}eval:\n  every: -1\n`);
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('bad.yaml:17:10: eval.every = -1: out of range; allowed: an integer >= 0');
  });

  it('rejects a dense-only model', () => {
    const error = failure(edit('  layers: 2', '  layers: 1\n  dense_first_layer: true'));
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('bad.yaml:5:22: model.dense_first_layer = true: leaves no MoE layer');
  });

  it('rejects a missing section', () => {
    const error = failure(BASE.replace('data:\n  dir: runs/data/x\n', ''));
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('bad.yaml:1:1: data (missing): required key is missing');
    expect(error.fix).toBe('add data to the top level');
  });

  it('rejects a list at the top', () => {
    const error = failure('- model\n');
    expect(error.code).toBe('RECIPE_INVALID');
    expect(error.message).toContain('bad.yaml:1:1: the recipe is a list, not a mapping of sections');
  });

  it('collects every schema error', () => {
    const text = edit('  width: 64', '  width: wide').replace('  active: 2', '  activ: 2').replace('  steps: 10', '  steps: -3');
    const error = failure(text);
    expect(error).toBeInstanceOf(RecipeError);
    const problems = (error as RecipeError).problems.map((problem) => problem.path.join('.'));
    expect(problems).toEqual(['model.width', 'moe.active', 'moe.activ', 'train.steps']);
    expect(error.message).toContain('4 problems');
  });

  it('collects every cross-field error', () => {
    const error = failure(edit('  heads: 4', '  heads: 5').replace('  active: 2', '  active: 9'));
    const problems = (error as RecipeError).problems.map((problem) => problem.path.join('.'));
    expect(problems).toEqual(['model.heads', 'moe.active']);
  });
});

describe('loadRecipe', () => {
  it('reports a missing file', async () => {
    await expect(loadRecipe('no/such/recipe.yaml')).rejects.toMatchObject({
      code: 'RECIPE_NOT_FOUND',
      message: 'recipe file no/such/recipe.yaml not found',
    });
  });

  it('rejects a remote path', async () => {
    await expect(loadRecipe('s3://bucket/recipe.yaml')).rejects.toMatchObject({ code: 'RECIPE_NOT_FOUND' });
  });

  it('names the file in errors', async () => {
    const folder = mkdtempSync(join(tmpdir(), 'snax-recipe-'));
    const path = join(folder, 'bad.yaml');
    writeFileSync(path, edit('  heads: 4', '  heads: 5'));
    await expect(loadRecipe(path)).rejects.toMatchObject({ code: 'RECIPE_INVALID' });
    await expect(loadRecipe(path)).rejects.toThrow(`${path}:5:10: model.heads = 5`);
  });
});

describe('--set null', () => {
  it('removes a key so the granularity form can replace the direct form', () => {
    const text = 'model: {width: 32, heads: 2, layers: 1, seq_len: 16}\nmoe: {experts: 8, active: 2, expert_width: 16}\ndata: {dir: d, tokenizer: byte}\ntrain: {steps: 1, batch_size: 1}\n';
    const recipe = parseRecipe(text, 'null.yaml', [
      'moe.experts=null',
      'moe.active=~',
      'moe.expert_width=',
      'moe.granularity={dense_width: 64, experts: 2, active: 1, granularity: 4}',
    ]);
    expect(recipe.moe.experts).toBe(8);
    expect(recipe.moe.active).toBe(4);
    expect(recipe.moe.expert_width).toBe(16);
  });

  it('brings back the default of an optional key', () => {
    const text = 'model: {width: 32, heads: 2, layers: 1, seq_len: 16}\nmoe: {experts: 8, active: 2, expert_width: 16, rounding: up}\ndata: {dir: d, tokenizer: byte}\ntrain: {steps: 1, batch_size: 1}\n';
    expect(parseRecipe(text, 'null.yaml', ['moe.rounding=null']).moe.rounding).toBe('none');
  });
});
