/**
 * Cross-field checks of a resolved recipe: the rules that no single key's
 * schema can state. Each returns a RecipeProblem that points at the key to
 * change. They run after the schema checks pass, and before anything is
 * allocated.
 */
import { TOKENIZER_VOCAB } from './defaults.js';
import type { RecipeProblem } from './problems.js';
import { valueAt } from './schema-problems.js';
import type { Recipe } from './types.js';

/** Runs every cross-field check; `raw` is the recipe data before defaults, to tell stated values from defaults. */
export function crossFieldProblems(recipe: Recipe, raw: unknown): RecipeProblem[] {
  return [
    ...headProblems(recipe),
    ...vocabProblems(recipe),
    ...granularityProblems(recipe),
    ...activeProblems(recipe, raw),
    ...layerProblems(recipe),
  ];
}

function divisors(value: number): number[] {
  const result: number[] = [];
  for (let d = 1; d <= value; d++) if (value % d === 0) result.push(d);
  return result;
}

function listSome(values: number[]): string {
  return values.length > 8 ? `${values.slice(0, 8).join(', ')}, ...` : values.join(', ');
}

function headProblems(recipe: Recipe): RecipeProblem[] {
  const { width, heads } = recipe.model;
  const good = divisors(width).filter((h) => (width / h) % 2 === 0);
  const allowed = good.length > 0
    ? `a divisor of model.width (${width}) that leaves an even head size: ${listSome(good)}`
    : `none for model.width ${width}, which is odd`;

  if (width % heads !== 0) {
    return [{
      path: ['model', 'heads'],
      value: heads,
      issue: `does not divide model.width (${width})`,
      allowed,
      fix: good.length > 0 ? `set model.heads to one of ${listSome(good)}, or change model.width` : 'make model.width even',
      anchor: 'value',
    }];
  }
  if ((width / heads) % 2 !== 0) {
    return [{
      path: ['model', 'heads'],
      value: heads,
      issue: `gives head size ${width / heads}, which is odd; RoPE rotates pairs of dimensions, so the head size must be even`,
      allowed,
      fix: good.length > 0 ? `set model.heads to one of ${listSome(good)}, or change model.width` : 'make model.width even',
      anchor: 'value',
    }];
  }
  return [];
}

function vocabProblems(recipe: Recipe): RecipeProblem[] {
  const { tokenizer } = recipe.data;
  const size = recipe.model.vocab_size;
  const needed = TOKENIZER_VOCAB[tokenizer];
  const bad = tokenizer === 'byte' ? size !== needed : size < needed;
  if (!bad) return [];
  return [{
    path: ['model', 'vocab_size'],
    value: size,
    issue: tokenizer === 'byte'
      ? `does not match data.tokenizer byte, which has exactly ${needed} tokens`
      : `is smaller than the ${needed} tokens of data.tokenizer gpt2`,
    allowed: tokenizer === 'byte' ? `${needed} with the byte tokenizer` : `an integer >= ${needed} with the gpt2 tokenizer`,
    fix: `set model.vocab_size to ${needed} or leave it out to take the tokenizer's size`,
    anchor: 'value',
  }];
}

function granularityProblems(recipe: Recipe): RecipeProblem[] {
  const form = recipe.moe.granularity;
  if (form === undefined || form.dense_width % form.granularity === 0) return [];
  return [{
    path: ['moe', 'granularity', 'granularity'],
    value: form.granularity,
    issue: `does not divide moe.granularity.dense_width (${form.dense_width}), so the expert width F/G is not an integer`,
    allowed: `a divisor of ${form.dense_width}: ${listSome(divisors(form.dense_width))}`,
    fix: 'choose a granularity that divides dense_width, or change dense_width',
    anchor: 'value',
  }];
}

function activeProblems(recipe: Recipe, raw: unknown): RecipeProblem[] {
  const { experts, active, gate, granularity } = recipe.moe;
  const problems: RecipeProblem[] = [];

  if (active > experts) {
    const path = granularity !== undefined ? ['moe', 'granularity', 'active'] : ['moe', 'active'];
    const limit = granularity !== undefined ? granularity.experts : experts;
    problems.push({
      path,
      value: granularity !== undefined ? granularity.active : active,
      issue: `is more than the experts per layer (${path.slice(0, -1).join('.')}.experts = ${limit})`,
      allowed: `an integer from 1 to ${limit}`,
      fix: `set ${path.join('.')} to at most ${limit}, or raise ${path.slice(0, -1).join('.')}.experts`,
      anchor: 'value',
    });
  }

  if (active === 1 && gate === 'renormalize') {
    const stated = valueAt(raw, ['moe', 'gate']) !== undefined;
    problems.push({
      path: ['moe', 'gate'],
      value: gate,
      issue: `${stated ? '' : 'is the default, and '}cannot be used with one active expert: a softmax over one logit is always 1, so the router would get no gradient from the language-model loss and learn nothing`,
      allowed: 'softmax when moe.active is 1',
      fix: 'set moe.gate to softmax, or raise moe.active',
      anchor: 'value',
    });
  }
  return problems;
}

function layerProblems(recipe: Recipe): RecipeProblem[] {
  if (!recipe.model.dense_first_layer || recipe.model.layers > 1) return [];
  return [{
    path: ['model', 'dense_first_layer'],
    value: true,
    issue: 'leaves no MoE layer, because model.layers is 1',
    allowed: 'true only when model.layers >= 2',
    fix: 'set model.dense_first_layer to false, or raise model.layers',
    anchor: 'value',
  }];
}
