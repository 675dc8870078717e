import { Flags } from '@oclif/core';
import { SnaxCommand } from '../cli/base.js';
import { loadRecipe } from '../recipe/load.js';
import { numThreads } from '../native/core.js';
import { evaluateCheckpoint } from '../train/evaluate.js';

export default class Eval extends SnaxCommand {
  static override summary = 'Report the validation loss and perplexity of a checkpoint.';

  static override description =
    'Loads a checkpoint (a checkpoint folder, or a run folder for its newest complete checkpoint), ' +
    'verifies its checksums, and evaluates eval.batches batches of the validation split.';

  static override examples = [
    '<%= config.bin %> eval --checkpoint runs/brown-tiny',
    '<%= config.bin %> eval --checkpoint runs/brown-tiny/checkpoints/step_001000 --json',
    '<%= config.bin %> eval --checkpoint runs/smoke --recipe recipes/smoke.yaml --set eval.batches=50',
  ];

  static override flags = {
    checkpoint: Flags.string({ helpValue: 'PATH', description: 'checkpoint folder, or run folder (local or s3://)', required: true }),
    recipe: Flags.string({ helpValue: 'RECIPE', description: 'recipe to use instead of the one stored in the checkpoint (model shapes must match)' }),
    set: Flags.string({ description: 'override a key of --recipe, as path=value (repeatable)', multiple: true, helpValue: 'PATH=VALUE', dependsOn: ['recipe'] }),
  };

  async run(): Promise<unknown> {
    const { flags } = await this.parse(Eval);
    numThreads(); // loads the addon first, so a bad SNAX_NUM_THREADS is reported as such
    const recipe = flags.recipe ? await loadRecipe(flags.recipe, flags.set ?? []) : undefined;
    const result = await evaluateCheckpoint(flags.checkpoint, recipe);
    this.log(
      `step ${result.step}: val loss ${result.loss.toFixed(4)} nats/token, perplexity ${result.perplexity.toFixed(2)} ` +
        `(${result.batches} batches, ${result.tokens} tokens) from ${result.checkpoint}`,
    );
    return result;
  }
}
