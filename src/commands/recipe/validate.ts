/**
 * `snax recipe validate`: checks a recipe and prints it resolved, with its
 * size, FLOPs and activation memory. The work is in src/recipe/.
 */
import { Args, Flags } from '@oclif/core';
import { SnaxCommand } from '../../cli/base.js';
import { loadRecipe } from '../../recipe/load.js';
import { formatBytes, formatModelSize, formatResolvedRecipe } from '../../recipe/report.js';
import { type ModelSize, describeModel } from '../../recipe/size.js';
import { checkTrainingMemory, type MemoryEstimate } from '../../model/memory.js';
import type { Recipe } from '../../recipe/types.js';

export default class RecipeValidate extends SnaxCommand {
  static override summary = 'Check a recipe and print it with every default filled in.';

  static override description = [
    'Reads a recipe YAML file, applies --set overrides, and checks it against the recipe schema and the cross-field rules.',
    'On success it prints the resolved recipe (every default filled in), then total and active parameters, training FLOPs per token and the MoE activation memory of each recompute strategy.',
    'On failure it lists every problem with file:line:column, key path, value, what is allowed and a fix, and exits with code 1.',
  ].join('\n\n');

  static override examples = [
    '<%= config.bin %> <%= command.id %> recipes/smoke.yaml',
    '<%= config.bin %> <%= command.id %> recipes/brown-tiny.yaml --set moe.active=8 --set moe.recompute=cache-all',
    '<%= config.bin %> <%= command.id %> recipes/brown-tiny.yaml --set "data.prepare.inputs=[brown, notes.txt]" --json',
  ];

  static override args = {
    recipe: Args.string({ description: 'Path of the recipe YAML file.', required: true }),
  };

  static override flags = {
    set: Flags.string({
      summary: 'Override one recipe key before validation; repeat for more.',
      description: 'The path is dotted (moe.active, optim.lr) and the value is parsed as YAML, so 4, 1e-3, true and [a, b] keep their types. Values use the units of the recipe key (steps, tokens, sequences).',
      helpValue: 'path=value',
      multiple: true,
      multipleNonGreedy: true,
    }),
  };

  async run(): Promise<{ recipe: Recipe; size: ModelSize; memory: MemoryEstimate }> {
    const { args, flags } = await this.parse(RecipeValidate);
    const recipe = await loadRecipe(args.recipe, flags.set ?? []);
    const size = describeModel(recipe);
    const memory = checkTrainingMemory(recipe);

    if (!this.jsonEnabled()) {
      this.log(`# ${args.recipe}: valid; resolved recipe with every default filled in`);
      this.log(formatResolvedRecipe(recipe));
      this.log('');
      this.log(formatModelSize(recipe, size));
      this.log(
        `training memory (estimate): ${formatBytes(memory.totalBytes)} = ${formatBytes(memory.parameterBytes)} weights, gradients and AdamW state + ` +
          `${formatBytes(memory.activationBytes)} activations`,
      );
    }
    return { recipe, size, memory };
  }
}
