/**
 * AdamW with decoupled weight decay (none on norm weights) and global
 * gradient-norm clipping, over a ParamStore. The moment buffers are named
 * like the parameters (`m.<name>`, `v.<name>`) so checkpoints store them as
 * plain tensors.
 */
import * as ops from '../native/ops.js';
import type { ParamStore } from '../model/params.js';
import type { Recipe } from '../recipe/types.js';

export class AdamW {
  readonly first = new Map<string, Float32Array>();
  readonly second = new Map<string, Float32Array>();
  /** Optimizer steps taken so far; bias correction uses step + 1. */
  step = 0;

  constructor(private readonly params: ParamStore, private readonly recipe: Recipe) {
    for (const spec of params.specs) {
      const size = params.value(spec.name).length;
      this.first.set(spec.name, new Float32Array(size));
      this.second.set(spec.name, new Float32Array(size));
    }
  }

  /** Computes the global L2 norm of all gradients, accumulated in double. */
  gradNorm(): number {
    let sum = 0;
    for (const grad of this.params.grads.values()) sum += ops.sumSquares(grad);
    return Math.sqrt(sum);
  }

  /**
   * Clips the gradients to optim.grad_clip (when positive) and applies one
   * AdamW update at learning rate lr. Returns the norm before clipping.
   */
  update(lr: number): number {
    const { beta1, beta2, eps, weight_decay: weightDecay, grad_clip: clip } = this.recipe.optim;
    const norm = this.gradNorm();
    if (clip > 0 && norm > clip) {
      const factor = clip / (norm + 1e-6);
      for (const grad of this.params.grads.values()) ops.scaleInPlace(grad, factor);
    }
    this.step++;
    for (const spec of this.params.specs) {
      const decay = spec.isNorm ? 0 : weightDecay;
      ops.adamwStep(
        this.params.value(spec.name),
        this.params.grad(spec.name),
        this.first.get(spec.name)!,
        this.second.get(spec.name)!,
        lr,
        beta1,
        beta2,
        eps,
        decay,
        this.step,
      );
    }
    return norm;
  }

  /** Returns the moment buffers as named tensors for a checkpoint. */
  stateTensors(): Map<string, Float32Array> {
    const tensors = new Map<string, Float32Array>();
    for (const [name, value] of this.first) tensors.set(`m.${name}`, value);
    for (const [name, value] of this.second) tensors.set(`v.${name}`, value);
    return tensors;
  }
}
