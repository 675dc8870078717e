/**
 * The parameter layout of the SNaX transformer and its initialisation.
 *
 * Shape letters: V vocabulary, D width, L layers, E experts, N expert width,
 * F dense FFN width. Per layer: attn_norm D, qkv 3D x D, proj D x D,
 * ffn_norm D, then either the MoE (router E x D, w1 E x 2N x D with gate and
 * up rows interleaved, w2 E x D x N) or, for layer 0 with dense_first_layer,
 * a dense SwiGLU (w1 2F x D interleaved, w2 D x F). Then final_norm D and an
 * untied lm_head V x D.
 */
import type { Recipe } from '../recipe/types.js';
import { SeededRandom } from './random.js';

export interface ParamSpec {
  name: string;
  shape: number[];
  /** Norm weights start at 1 and are exempt from weight decay. */
  isNorm: boolean;
  /** Standard deviation of the initial normal draw (unused for norms). */
  initStd: number;
}

/** The named tensors of one model, with gradients of the same shapes. */
export class ParamStore {
  readonly specs: ParamSpec[];
  readonly values = new Map<string, Float32Array>();
  readonly grads = new Map<string, Float32Array>();

  constructor(specs: ParamSpec[]) {
    this.specs = specs;
    for (const spec of specs) {
      const size = spec.shape.reduce((a, b) => a * b, 1);
      this.values.set(spec.name, new Float32Array(size));
      this.grads.set(spec.name, new Float32Array(size));
    }
  }

  value(name: string): Float32Array {
    const tensor = this.values.get(name);
    if (!tensor) throw new Error(`unknown parameter ${name}`);
    return tensor;
  }

  grad(name: string): Float32Array {
    const tensor = this.grads.get(name);
    if (!tensor) throw new Error(`unknown parameter ${name}`);
    return tensor;
  }

  zeroGrads(): void {
    for (const grad of this.grads.values()) grad.fill(0);
  }

  /** Total number of scalar parameters. */
  count(): number {
    let total = 0;
    for (const tensor of this.values.values()) total += tensor.length;
    return total;
  }

  /** Draws every weight from its normal distribution and sets norms to 1, in layout order. */
  initialise(seed: number): void {
    const random = new SeededRandom(seed);
    for (const spec of this.specs) {
      const tensor = this.value(spec.name);
      if (spec.isNorm) tensor.fill(1);
      else random.fillNormal(tensor, spec.initStd);
    }
  }
}

/** Returns whether layer `layer` uses the dense SwiGLU FFN instead of the MoE. */
export function isDenseLayer(recipe: Recipe, layer: number): boolean {
  return layer === 0 && recipe.model.dense_first_layer;
}

/** Lists every parameter of the model described by the recipe, in a fixed order. */
export function modelParamSpecs(recipe: Recipe): ParamSpec[] {
  const { vocab_size: V, width: D, layers: L, init_std: std } = recipe.model;
  const { experts: E, expert_width: N } = recipe.moe;
  const F = recipe.model.dense_width;
  // Output projections of each residual branch start smaller, as in GPT-2,
  // so the residual stream's variance does not grow with depth.
  const residualStd = std / Math.sqrt(2 * L);
  const specs: ParamSpec[] = [{ name: 'wte', shape: [V, D], isNorm: false, initStd: std }];
  for (let layer = 0; layer < L; layer++) {
    const prefix = `layers.${layer}.`;
    specs.push({ name: prefix + 'attn_norm', shape: [D], isNorm: true, initStd: 0 });
    specs.push({ name: prefix + 'qkv', shape: [3 * D, D], isNorm: false, initStd: std });
    specs.push({ name: prefix + 'proj', shape: [D, D], isNorm: false, initStd: residualStd });
    specs.push({ name: prefix + 'ffn_norm', shape: [D], isNorm: true, initStd: 0 });
    if (isDenseLayer(recipe, layer)) {
      specs.push({ name: prefix + 'w1', shape: [2 * F, D], isNorm: false, initStd: std });
      specs.push({ name: prefix + 'w2', shape: [D, F], isNorm: false, initStd: residualStd });
    } else {
      specs.push({ name: prefix + 'router', shape: [E, D], isNorm: false, initStd: std });
      specs.push({ name: prefix + 'w1', shape: [E, 2 * N, D], isNorm: false, initStd: std });
      specs.push({ name: prefix + 'w2', shape: [E, D, N], isNorm: false, initStd: residualStd });
    }
  }
  specs.push({ name: 'final_norm', shape: [D], isNorm: true, initStd: 0 });
  specs.push({ name: 'lm_head', shape: [V, D], isNorm: false, initStd: std });
  return specs;
}
