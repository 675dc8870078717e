/**
 * Terminal output shared by the training and evaluation commands: the
 * settings table printed at start, and number formatting.
 */
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import type { Recipe } from '../recipe/types.js';
import { numThreads, simdName } from '../native/core.js';
import { formatBytes } from '../recipe/report.js';

export { formatBytes };

/** The SNaX version from package.json. */
export function snaxVersion(): string {
  const url = new URL('../../../package.json', import.meta.url);
  try {
    return (JSON.parse(readFileSync(url, 'utf8')) as { version: string }).version;
  } catch {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  }
}

/** Describes the compute device in words, e.g. "CPU, 2 threads, avx512 (Intel Xeon ...)". */
export function deviceDescription(): string {
  const model = cpus()[0]?.model?.trim() ?? 'unknown CPU';
  return `CPU, ${numThreads()} threads, ${simdName()} kernels (${model})`;
}

/** Formats rows as a boxed two-column table. */
export function settingsTable(rows: Array<[string, string]>): string {
  const keyWidth = Math.max(...rows.map(([key]) => key.length));
  const valueWidth = Math.max(...rows.map(([, value]) => value.length));
  const rule = '+' + '-'.repeat(keyWidth + 2) + '+' + '-'.repeat(valueWidth + 2) + '+';
  const lines = rows.map(([key, value]) => `| ${key.padEnd(keyWidth)} | ${value.padEnd(valueWidth)} |`);
  return [rule, ...lines, rule].join('\n');
}

/** Lists the rows of the settings table printed when training starts. */
export function trainingSettings(recipe: Recipe, parameters: number, startStep: number, resumedFrom: string | null): Array<[string, string]> {
  const { model, moe, train } = recipe;
  return [
    ['snax', snaxVersion()],
    ['node', process.version],
    ['device', deviceDescription()],
    ['recipe', recipe.name],
    ['output', recipe.output],
    ['model', `D=${model.width} L=${model.layers} H=${model.heads} S=${model.seq_len} V=${model.vocab_size}`],
    ['moe', `E=${moe.experts} K=${moe.active} N=${moe.expert_width} gate=${moe.gate}`],
    ['rounding', `${moe.rounding} (tile ${moe.tile > 0 ? moe.tile : 'backend'})`],
    ['recompute', moe.recompute],
    ['parameters', parameters.toLocaleString('en-US')],
    ['batch', `${train.batch_size} x ${model.seq_len} tokens, accumulate ${train.grad_accum}`],
    ['steps', `${startStep} -> ${train.steps}${resumedFrom ? ` (resumed from ${resumedFrom})` : ''}`],
    ['lr', `${recipe.optim.lr} ${recipe.schedule.kind}, warmup ${recipe.schedule.warmup_steps}`],
  ];
}
