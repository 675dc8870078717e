/**
 * Learning-rate schedules: linear warmup, then cosine decay, warmup-stable-
 * decay (constant, then a linear decay over the last decay_fraction of the
 * steps), or constant. All of them end at lr * min_lr_ratio, except constant.
 */
import type { Recipe } from '../recipe/types.js';

/** Returns the learning rate for optimizer step `step` (0-based) of `totalSteps`. */
export function learningRate(recipe: Recipe, step: number, totalSteps: number): number {
  const { lr } = recipe.optim;
  const { kind, warmup_steps: warmup, min_lr_ratio: minRatio, decay_fraction: decayFraction } = recipe.schedule;
  if (warmup > 0 && step < warmup) return (lr * (step + 1)) / warmup;
  if (kind === 'constant') return lr;
  const minLr = lr * minRatio;
  if (kind === 'cosine') {
    const span = Math.max(1, totalSteps - warmup);
    const progress = Math.min(1, (step - warmup) / span);
    return minLr + 0.5 * (lr - minLr) * (1 + Math.cos(Math.PI * progress));
  }
  // wsd: stable until the decay window, then linear down to minLr.
  const decaySteps = Math.max(1, Math.round(totalSteps * decayFraction));
  const decayStart = totalSteps - decaySteps;
  if (step < decayStart) return lr;
  const progress = Math.min(1, (step - decayStart + 1) / decaySteps);
  return lr + (minLr - lr) * progress;
}
