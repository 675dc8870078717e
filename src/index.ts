/**
 * The SNaX library: the native MoE layer on Float32Arrays (see docs/api.md),
 * engine settings, and the error class every failure uses. The CLI is built
 * on the same modules; importing this file does not load oclif.
 */
export {
  MoeContext,
  moeBackward,
  moeBackwardAsync,
  moeBaselineBackward,
  moeBaselineBackwardAsync,
  moeBaselineForward,
  moeBaselineForwardAsync,
  moeForward,
  moeForwardAsync,
  type MoeForwardResult,
  type MoeGate,
  type MoeGrads,
  type MoeMemory,
  type MoeOptions,
  type MoeRounding,
  type MoeStats,
  type MoeStrategy,
  type MoeWeights,
} from './native/moe.js';
export { numThreads, setNumThreads, simdName, tileSize } from './native/core.js';
export { SnaxError } from './errors.js';
export { interleavedToSplit, splitToInterleaved } from './model/layout.js';
export { loadRecipe, parseRecipe } from './recipe/load.js';
export type { Recipe } from './recipe/types.js';
