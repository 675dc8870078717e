/**
 * Turns raw recipe data that passed the schema into a Recipe: fills every
 * default from RECIPE_DEFAULTS, derives experts/active/expert_width from the
 * granularity form and steps from tokens, and orders keys as in the schema.
 * It does not run the cross-field checks (see checks.ts).
 */
import { RECIPE_DEFAULTS, TOKENIZER_VOCAB, defaultName, defaultOutput, stepsForTokens } from './defaults.js';
import { recipeSchema, type SchemaNode } from './schema.js';
import type { GranularitySection, Recipe, TokenizerName } from './types.js';

type Raw = Record<string, Record<string, unknown> | undefined> & { name?: string; output?: string };

/** Fills defaults and derived values of schema-valid raw data; `sourceName` gives the default run name. */
export function resolveRecipe(data: unknown, sourceName: string): Recipe {
  const raw = data as Raw;
  const name = raw.name ?? defaultName(sourceName);

  const data_ = { ...RECIPE_DEFAULTS.data, ...raw.data } as Recipe['data'];
  if (raw.data?.prepare !== undefined) {
    data_.prepare = { ...RECIPE_DEFAULTS['data.prepare'], ...(raw.data.prepare as object) } as Recipe['data']['prepare'];
  }

  const moeRaw = raw.moe ?? {};
  const granularity = moeRaw.granularity as GranularitySection | undefined;
  const shape = granularity !== undefined
    ? {
        experts: granularity.experts * granularity.granularity,
        active: granularity.active * granularity.granularity,
        expert_width: granularity.dense_width / granularity.granularity,
      }
    : {};
  const moe = { ...RECIPE_DEFAULTS.moe, ...moeRaw, ...shape } as Recipe['moe'];

  const tokenizer = data_.tokenizer as TokenizerName;
  const modelRaw = raw.model ?? {};
  const model = {
    ...RECIPE_DEFAULTS.model,
    vocab_size: TOKENIZER_VOCAB[tokenizer],
    dense_width: granularity?.dense_width ?? moe.active * moe.expert_width,
    ...modelRaw,
  } as Recipe['model'];

  const train = { ...RECIPE_DEFAULTS.train, ...raw.train } as Recipe['train'];
  if (train.tokens !== undefined) {
    train.steps = stepsForTokens(train.tokens, train.batch_size, train.grad_accum, model.seq_len);
  }

  const recipe: Recipe = {
    name,
    output: raw.output ?? defaultOutput(name),
    model,
    moe,
    data: data_,
    optim: { ...RECIPE_DEFAULTS.optim, ...raw.optim } as Recipe['optim'],
    schedule: { ...RECIPE_DEFAULTS.schedule, ...raw.schedule } as Recipe['schedule'],
    train,
    eval: { ...RECIPE_DEFAULTS.eval, ...raw.eval } as Recipe['eval'],
    checkpoint: { ...RECIPE_DEFAULTS.checkpoint, ...raw.checkpoint } as Recipe['checkpoint'],
    log: { ...RECIPE_DEFAULTS.log, ...raw.log } as Recipe['log'],
  };
  return orderLikeSchema(recipe, recipeSchema()) as Recipe;
}

/**
 * Returns the recipe as a file would give it: derived keys that the recipe
 * did not state (experts/active/expert_width of the granularity form, steps
 * computed from tokens) are left out, so the result loads again as the same
 * Recipe.
 */
export function recipeAsWritten(recipe: Recipe): Record<string, unknown> {
  const copy = structuredClone(recipe) as unknown as Record<string, Record<string, unknown>>;
  if (recipe.moe.granularity !== undefined) {
    delete copy.moe.experts;
    delete copy.moe.active;
    delete copy.moe.expert_width;
  }
  if (recipe.train.tokens !== undefined) delete copy.train.steps;
  return copy;
}

/** Copies plain data with mapping keys in the order the schema lists them. */
function orderLikeSchema(value: unknown, node: SchemaNode | undefined): unknown {
  if (value === null || typeof value !== 'object' || Array.isArray(value) || node?.properties === undefined) {
    return value;
  }
  const source = value as Record<string, unknown>;
  const ordered: Record<string, unknown> = {};
  for (const key of Object.keys(node.properties)) {
    if (source[key] !== undefined) ordered[key] = orderLikeSchema(source[key], node.properties[key]);
  }
  return ordered;
}
