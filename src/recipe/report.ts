/**
 * Text report of a checked recipe for `snax recipe validate`: the resolved
 * recipe as YAML, then its size, FLOPs and the activation memory of each
 * recompute strategy.
 */
import { stringify } from 'yaml';
import { recipeAsWritten } from './resolve.js';
import { type ModelSize, RECOMPUTE_STRATEGIES } from './size.js';
import type { Recipe } from './types.js';

/** Formats a count with thousands separators and a short SI form, such as "1,234,567 (1.23M)". */
export function formatCount(value: number): string {
  const units: Array<[number, string]> = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'K']];
  const exact = Math.round(value).toLocaleString('en-US');
  for (const [scale, unit] of units) {
    if (Math.abs(value) >= scale) return `${exact} (${(value / scale).toPrecision(3)}${unit})`;
  }
  return exact;
}

/** Formats a byte count in binary units, such as "1.50 MiB". */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(2)} ${units[unit]}`;
}

/** Formats the resolved recipe as YAML that loads again as the same recipe. */
export function formatResolvedRecipe(recipe: Recipe): string {
  return stringify(recipeAsWritten(recipe)).trimEnd();
}

/** Formats the size table: parameters, FLOPs and per-strategy MoE activation memory. */
export function formatModelSize(recipe: Recipe, size: ModelSize): string {
  const { experts, active, expert_width, granularity } = recipe.moe;
  const shape = `E=${experts} experts, K=${active} active, N=${expert_width} wide`;
  const derived = granularity !== undefined ? ` (from granularity G=${granularity.granularity})` : '';
  const steps = recipe.train.tokens !== undefined ? `${recipe.train.steps} (from train.tokens)` : String(recipe.train.steps);

  const rows: Array<[string, string]> = [
    ['total parameters', formatCount(size.totalParams)],
    ['active parameters per token', formatCount(size.activeParams)],
    ['training FLOPs per token', formatCount(size.flopsPerToken)],
    ['MoE layers', `${size.moeLayers} (${shape}${derived})`],
    ['dense FFN layers', String(size.denseLayers)],
    ['tokens per micro-batch', formatCount(size.tokensPerMicroBatch)],
    ['tokens per step', formatCount(size.tokensPerStep)],
    ['optimizer steps', steps],
  ];
  const labelWidth = Math.max(...rows.map(([label]) => label.length));
  const lines = ['model size', ...rows.map(([label, value]) => `  ${label.padEnd(labelWidth)}  ${value}`)];

  lines.push('', `MoE activation memory kept for backward (fp32, one micro-batch of ${size.tokensPerMicroBatch} tokens)`);
  const header = ['strategy', 'bytes/token/layer', 'per layer', `all ${size.moeLayers} MoE layers`];
  const table = RECOMPUTE_STRATEGIES.map((strategy) => {
    const memory = size.activation[strategy];
    const name = strategy === recipe.moe.recompute ? `${strategy} (selected)` : strategy;
    return [name, memory.bytesPerToken.toLocaleString('en-US'), formatBytes(memory.bytesPerLayer), formatBytes(memory.bytesTotal)];
  });
  const widths = header.map((title, column) => Math.max(title.length, ...table.map((row) => row[column].length)));
  for (const row of [header, ...table]) {
    lines.push(`  ${row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column]) : cell.padStart(widths[column]))).join('  ')}`);
  }
  return lines.join('\n');
}
