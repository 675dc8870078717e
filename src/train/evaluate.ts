/**
 * Validation loss: the mean cross-entropy over the first `batches` windows
 * of the validation split, read in order so every evaluation uses the same
 * tokens.
 */
import { evalBatches, TokenDataset } from '../data/dataset.js';
import { modelParamSpecs, ParamStore } from '../model/params.js';
import { Transformer } from '../model/transformer.js';
import type { Recipe } from '../recipe/types.js';
import { loadCheckpoint } from '../storage/checkpoint.js';
import { restoreModel } from './state.js';
import { checkTrainingMemory } from '../model/memory.js';

export interface EvalResult {
  /** Mean cross-entropy in nats per token. */
  loss: number;
  tokens: number;
}

export function evaluate(model: Transformer, dataset: TokenDataset, batches: number): EvalResult {
  const { seq_len: S } = model.recipe.model;
  let lossSum = 0;
  let count = 0;
  for (const batch of evalBatches(dataset, S, model.batch, batches)) {
    const result = model.forward(batch.inputs, batch.targets, false);
    lossSum += result.loss;
    count++;
  }
  model.releaseSaved();
  return { loss: count > 0 ? lossSum / count : NaN, tokens: count * model.tokens };
}

export interface CheckpointEvalResult extends EvalResult {
  checkpoint: string;
  step: number;
  perplexity: number;
  batches: number;
}

/**
 * Evaluates a checkpoint (a checkpoint folder, or a run folder for its newest
 * checkpoint) on the validation split. The model comes from the checkpoint's
 * own recipe unless `recipe` is given; its model shapes must then match.
 */
export async function evaluateCheckpoint(path: string, recipe?: Recipe): Promise<CheckpointEvalResult> {
  const state = await loadCheckpoint(path);
  const resolved = recipe ?? (state.recipe as Recipe);
  const dataset = await TokenDataset.open(resolved.data.dir, 'val', resolved.model.vocab_size);
  checkTrainingMemory(resolved);
  const params = new ParamStore(modelParamSpecs(resolved));
  restoreModel(state, params, path, resolved);
  const model = new Transformer(resolved, params, resolved.train.batch_size);
  const result = evaluate(model, dataset, resolved.eval.batches);
  return { ...result, checkpoint: path, step: state.step, perplexity: Math.exp(result.loss), batches: resolved.eval.batches };
}
