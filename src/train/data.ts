/**
 * Makes sure the recipe's data folder has shards: when it has none and the
 * recipe has a `data.prepare` section, the shards are prepared first (the
 * ready recipes use this to tokenize the Brown corpus on first use).
 */
import { SnaxError } from '../errors.js';
import type { Recipe } from '../recipe/types.js';
import { storageFor } from '../storage/storage.js';
import { prepareData } from '../data/prepare.js';

async function hasShards(dir: string): Promise<boolean> {
  const storage = storageFor(dir);
  if (!(await storage.exists(dir))) return false;
  const names = await storage.list(dir);
  // Any shard counts: a folder with only one split is reported by TokenDataset.open, not overwritten here.
  return names.some((name) => name.endsWith('.bin'));
}

export async function ensureData(recipe: Recipe, note?: (message: string) => void): Promise<void> {
  const { dir, prepare, tokenizer } = recipe.data;
  if (await hasShards(dir)) return;
  if (!prepare) {
    throw new SnaxError('DATA_NOT_FOUND', `data.dir ${dir} has no train and val shards (*train*.bin, *val*.bin)`, {
      fix: `run \`snax data prepare --input FILE --tokenizer ${tokenizer} --out ${dir}\`, or add a data.prepare section to the recipe`,
    });
  }
  note?.(`preparing ${dir} from ${prepare.inputs.join(', ')} with the ${tokenizer} tokenizer`);
  const result = await prepareData({ inputs: prepare.inputs, tokenizer, outDir: dir, valFraction: prepare.val_fraction });
  note?.(`prepared ${result.trainTokens} train and ${result.valTokens} val tokens`);
}
