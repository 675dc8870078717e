/**
 * Makes sure the recipe's data folder has shards: when it has none and the
 * recipe has a `data.prepare` section, the shards are prepared first (the
 * ready recipes use this to tokenize the Brown corpus on first use).
 */
import { SnaxError } from '../errors.js';
import type { Recipe } from '../recipe/types.js';
import { joinPath, storageFor } from '../storage/storage.js';
import { prepareData } from '../data/prepare.js';

async function hasShards(dir: string): Promise<boolean> {
  const storage = storageFor(dir);
  if (!(await storage.exists(dir))) return false;
  const names = await storage.list(dir);
  // Any shard counts: a folder with only one split is reported by TokenDataset.open, not overwritten here.
  return names.some((name) => name.endsWith('.bin'));
}

/**
 * Throws DATA_TOKENIZER_MISMATCH when the folder's dataset.json (written by
 * `snax data prepare`) names another tokenizer than the recipe. Shards made
 * by other tools have no dataset.json and are not checked.
 */
export async function checkTokenizer(recipe: Recipe): Promise<void> {
  const { dir, tokenizer } = recipe.data;
  const path = joinPath(dir, 'dataset.json');
  const storage = storageFor(path);
  if (!(await storage.exists(path))) return;
  let written: unknown;
  try {
    written = JSON.parse((await storage.readFile(path)).toString('utf8')).tokenizer;
  } catch {
    return; // An unreadable description does not make the shards unusable.
  }
  if (typeof written === 'string' && written !== tokenizer) {
    throw new SnaxError('DATA_TOKENIZER_MISMATCH', `data.dir ${dir} contains ${written} tokens (per its dataset.json), but data.tokenizer is ${tokenizer}`, {
      fix: `set data.tokenizer to ${written}, or point data.dir at shards prepared with --tokenizer ${tokenizer}`,
    });
  }
}

export async function ensureData(recipe: Recipe, note?: (message: string) => void): Promise<void> {
  const { dir, prepare, tokenizer } = recipe.data;
  if (await hasShards(dir)) {
    await checkTokenizer(recipe);
    return;
  }
  if (!prepare) {
    throw new SnaxError('DATA_NOT_FOUND', `data.dir ${dir} has no train and val shards (*train*.bin, *val*.bin)`, {
      fix: `run \`snax data prepare --input FILE --tokenizer ${tokenizer} --out ${dir}\`, or add a data.prepare section to the recipe`,
    });
  }
  note?.(`preparing ${dir} from ${prepare.inputs.join(', ')} with the ${tokenizer} tokenizer`);
  const result = await prepareData({ inputs: prepare.inputs, tokenizer, outDir: dir, valFraction: prepare.val_fraction });
  note?.(`prepared ${result.trainTokens} train and ${result.valTokens} val tokens`);
}
