/**
 * Conversion between the live model and optimizer and the named tensors of
 * a checkpoint. Loading checks every name and shape, so a checkpoint of
 * another model fails with a message that names the first difference.
 */
import { SnaxError } from '../errors.js';
import type { ParamStore } from '../model/params.js';
import type { CheckpointState } from '../storage/checkpoint.js';
import type { AdamW } from './optimizer.js';
import type { Recipe } from '../recipe/types.js';

type TensorMap = CheckpointState['model'];

function toTensors(entries: Iterable<[string, Float32Array]>, shapeOf: (name: string) => number[]): TensorMap {
  const tensors: TensorMap = new Map();
  for (const [name, data] of entries) tensors.set(name, { dtype: 'F32', shape: shapeOf(name), data });
  return tensors;
}

/** Returns the model weights and the optimizer moments as checkpoint tensors, without copying them. */
export function checkpointTensors(params: ParamStore, optimizer: AdamW): { model: TensorMap; optimizer: TensorMap } {
  const shapes = new Map(params.specs.map((spec) => [spec.name, spec.shape]));
  const model = toTensors(params.values.entries(), (name) => shapes.get(name)!);
  const moments = toTensors(optimizer.stateTensors().entries(), (name) => shapes.get(name.slice(2))!);
  return { model, optimizer: moments };
}

/** Keys whose values fix the shapes of the model's tensors. */
const SHAPE_KEYS: Array<[section: 'model' | 'moe', key: string]> = [
  ['model', 'vocab_size'],
  ['model', 'width'],
  ['model', 'layers'],
  ['model', 'dense_first_layer'],
  ['model', 'dense_width'],
  ['moe', 'experts'],
  ['moe', 'expert_width'],
];

/** Lists the shape keys that differ between a checkpoint's recipe and the current one, e.g. "model.width is 32 in the checkpoint, 64 in the recipe". */
export function shapeDifferences(saved: unknown, current: Recipe): string[] {
  const differences: string[] = [];
  const savedRecipe = saved as Partial<Record<'model' | 'moe', Record<string, unknown>>> | null;
  for (const [section, key] of SHAPE_KEYS) {
    const before = savedRecipe?.[section]?.[key];
    const now = (current[section] as unknown as Record<string, unknown>)[key];
    if (before !== undefined && before !== now) differences.push(`${section}.${key} is ${String(before)} in the checkpoint, ${String(now)} in the recipe`);
  }
  return differences;
}

function copyInto(target: Float32Array, tensors: TensorMap, name: string, shape: number[], source: string): void {
  const tensor = tensors.get(name);
  if (!tensor) {
    throw new SnaxError('CHECKPOINT_MISMATCH', `checkpoint ${source} has no tensor ${name}`, {
      fix: 'resume or evaluate with the recipe the checkpoint was trained with',
    });
  }
  const sameShape = tensor.shape.length === shape.length && tensor.shape.every((size, i) => size === shape[i]);
  if (!sameShape || tensor.data.length !== target.length || !(tensor.data instanceof Float32Array)) {
    throw new SnaxError('CHECKPOINT_MISMATCH', `tensor ${name} in ${source} has shape [${tensor.shape.join(', ')}], the recipe's model expects [${shape.join(', ')}]`, {
      fix: 'resume or evaluate with the recipe the checkpoint was trained with',
    });
  }
  target.set(tensor.data);
}

/** Copies the model weights of a checkpoint into params. */
export function restoreModel(state: CheckpointState, params: ParamStore, source: string, recipe?: Recipe): void {
  const differences = recipe ? shapeDifferences(state.recipe, recipe) : [];
  if (differences.length > 0) {
    throw new SnaxError('CHECKPOINT_MISMATCH', `checkpoint ${source} was trained with another model: ${differences.join('; ')}`, {
      fix: 'use the recipe the checkpoint was trained with (eval without --recipe uses it), or start a new run in another output folder',
    });
  }
  for (const spec of params.specs) copyInto(params.value(spec.name), state.model, spec.name, spec.shape, source);
}

/** Copies weights and optimizer moments of a checkpoint into the live objects. */
export function restoreTensors(state: CheckpointState, params: ParamStore, optimizer: AdamW, source: string, recipe?: Recipe): void {
  restoreModel(state, params, source, recipe);
  for (const spec of params.specs) {
    copyInto(optimizer.first.get(spec.name)!, state.optimizer, `m.${spec.name}`, spec.shape, source);
    copyInto(optimizer.second.get(spec.name)!, state.optimizer, `v.${spec.name}`, spec.shape, source);
  }
}
