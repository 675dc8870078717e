/**
 * Turns text into llm.c token shards: reads the inputs (files, globs, or the
 * Brown corpus), splits them into documents, assigns whole documents to the
 * train or validation split with a seeded shuffle, tokenizes them and writes
 * `train_000000.bin`, ... and `val_000000.bin`, ... to the output folder
 * (local or s3://), plus `dataset.json` describing what was written.
 *
 * A text file is split into documents at blank lines, so a single file can
 * give both splits. Each document is preceded by a separator: the
 * tokenizer's end-of-text token (gpt2) or a newline (byte).
 *
 * NOTE: all input text is held in memory at once, which limits inputs to a
 * few GB of text.
 */
import { promises as fs } from 'node:fs';
import { SnaxError } from '../errors.js';
import type { TokenizerName } from '../recipe/types.js';
import { baseName, isS3Path, joinPath, storageFor, type Storage } from '../storage/storage.js';
import { readBrownDocuments, type TextDocument } from './brown.js';
import { expandGlob, hasGlobSyntax } from './glob.js';
import { seededRandom, shuffle } from './random.js';
import { writeShard } from './shard.js';
import { getTokenizer, type Tokenizer } from './tokenizer.js';

export interface PrepareOptions {
  /** Files, glob patterns, or the word `brown` for the Brown corpus. */
  inputs: string[];
  tokenizer: TokenizerName | Tokenizer;
  /** Output folder, local or s3://. */
  outDir: string;
  /** Share of documents that go to the validation split, in [0, 1); at least one document always does. */
  valFraction: number;
  /** Seed of the train/validation split; default 1337. */
  seed?: number;
  /** Maximum tokens per shard file; default 100,000,000. */
  shardTokens?: number;
  /** Replace shards already in outDir instead of throwing DATA_OUTPUT_EXISTS. */
  overwrite?: boolean;
}

export interface PrepareResult {
  trainTokens: number;
  valTokens: number;
  trainDocuments: number;
  valDocuments: number;
  /** Paths of the shard files written, train first. */
  files: string[];
}

export const DEFAULT_SHARD_TOKENS = 100_000_000;
export const DEFAULT_PREPARE_SEED = 1337;
export const BROWN_INPUT = 'brown';

/** Shard names written by prepareData: the split, an underscore and six digits. */
const SHARD_NAME = /^(train|val)_\d{6}\.bin$/;

// ---------------------------------------------------------------- inputs

/** Splits text into documents at blank lines, dropping empty ones. */
export function splitDocuments(text: string, source: string): TextDocument[] {
  return text
    .replace(/\r\n?/g, '\n')
    .split(/\n[ \t]*\n/)
    .map((part) => part.trim())
    .filter((part) => part.length > 0)
    .map((part) => ({ source, text: part }));
}

/** Expands one input (a file, a glob, an s3:// file, or `brown`) into documents. */
async function readInput(input: string): Promise<TextDocument[]> {
  if (input === BROWN_INPUT) return readBrownDocuments();

  let files: string[];
  if (isS3Path(input)) {
    if (hasGlobSyntax(input)) {
      throw new SnaxError('INVALID_ARGUMENT', `glob patterns are not supported on S3: ${input}`, {
        fix: 'list the s3:// files one by one, or copy them to a local folder',
      });
    }
    if (!(await storageFor(input).exists(input))) files = [];
    else files = [input];
  } else if (hasGlobSyntax(input)) {
    files = await expandGlob(input);
  } else {
    const stat = await fs.stat(input).catch(() => undefined);
    if (stat?.isDirectory()) {
      throw new SnaxError('INVALID_ARGUMENT', `input ${input} is a folder, expected a file or a glob`, {
        fix: `pass a glob such as "${input}/*.txt"`,
      });
    }
    files = stat ? [input] : [];
  }

  if (files.length === 0) {
    throw new SnaxError('DATA_INPUT_NOT_FOUND', `input ${input} matches no file`, {
      fix: 'check the path or glob pattern (quote globs so the shell does not expand them), or use the word "brown"',
    });
  }

  const documents: TextDocument[] = [];
  for (const file of files) {
    const bytes = await storageFor(file).readFile(file);
    const invalidAt = firstInvalidUtf8(bytes);
    if (invalidAt >= 0) {
      throw new SnaxError('DATA_NOT_UTF8', `input ${file} is not valid UTF-8: byte ${invalidAt} (0x${bytes[invalidAt].toString(16)}) starts no valid character`, {
        fix: 'convert the file to UTF-8 first, for example `iconv -f latin1 -t utf-8 FILE > FILE.utf8`',
      });
    }
    documents.push(...splitDocuments(bytes.toString('utf8'), file));
  }
  return documents;
}

/** Returns the offset of the first byte that breaks UTF-8 encoding, or -1 when all of it is valid. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  let i = 0;
  while (i < bytes.length) {
    const lead = bytes[i];
    let length: number;
    let min: number;
    if (lead < 0x80) {
      i++;
      continue;
    } else if (lead >= 0xc2 && lead <= 0xdf) {
      length = 2;
      min = 0x80;
    } else if (lead >= 0xe0 && lead <= 0xef) {
      length = 3;
      min = 0x800;
    } else if (lead >= 0xf0 && lead <= 0xf4) {
      length = 4;
      min = 0x10000;
    } else {
      return i;
    }
    if (i + length > bytes.length) return i;
    let codePoint = lead & (0xff >> (length + 1));
    for (let k = 1; k < length; k++) {
      const next = bytes[i + k];
      if ((next & 0xc0) !== 0x80) return i;
      codePoint = (codePoint << 6) | (next & 0x3f);
    }
    // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are invalid.
    if (codePoint < min || (codePoint >= 0xd800 && codePoint <= 0xdfff) || codePoint > 0x10ffff) return i;
    i += length;
  }
  return -1;
}

// ---------------------------------------------------------------- shards

/** Collects the tokens of one split and writes a shard each time shardTokens are reached. */
class ShardWriter {
  private buffer: Uint16Array;
  private filled = 0;
  private shardIndex = 0;
  tokens = 0;
  documents = 0;
  readonly files: string[] = [];

  constructor(
    private readonly storage: Storage,
    private readonly outDir: string,
    private readonly split: 'train' | 'val',
    private readonly shardTokens: number,
  ) {
    this.buffer = new Uint16Array(Math.min(1 << 16, shardTokens));
  }

  async addDocument(separator: number, tokens: number[]): Promise<void> {
    this.documents++;
    await this.append([separator]);
    await this.append(tokens);
  }

  private async append(tokens: number[]): Promise<void> {
    let offset = 0;
    while (offset < tokens.length) {
      if (this.filled === this.shardTokens) await this.flush();
      if (this.filled === this.buffer.length) this.grow();
      const count = Math.min(tokens.length - offset, this.buffer.length - this.filled);
      for (let i = 0; i < count; i++) this.buffer[this.filled + i] = tokens[offset + i];
      this.filled += count;
      this.tokens += count;
      offset += count;
    }
  }

  private grow(): void {
    const larger = new Uint16Array(Math.min(this.buffer.length * 2, this.shardTokens));
    larger.set(this.buffer.subarray(0, this.filled));
    this.buffer = larger;
  }

  /** Writes the collected tokens as the next shard; writes nothing when none are collected. */
  async flush(): Promise<void> {
    if (this.filled === 0) return;
    const name = `${this.split}_${String(this.shardIndex).padStart(6, '0')}.bin`;
    const path = joinPath(this.outDir, name);
    await writeShard(this.storage, path, this.buffer.subarray(0, this.filled));
    this.files.push(path);
    this.shardIndex++;
    this.filled = 0;
  }
}

// ---------------------------------------------------------------- prepare

function checkOptions(options: PrepareOptions): void {
  const { valFraction, shardTokens, seed, inputs } = options;
  if (!Array.isArray(inputs) || inputs.length === 0) {
    throw new SnaxError('INVALID_ARGUMENT', 'no inputs given, expected at least one file, glob or "brown"');
  }
  if (typeof valFraction !== 'number' || !(valFraction >= 0 && valFraction < 1)) {
    throw new SnaxError('INVALID_ARGUMENT', `valFraction must be in [0, 1), got ${String(valFraction)}`);
  }
  if (shardTokens !== undefined && (!Number.isInteger(shardTokens) || shardTokens < 1 || shardTokens > 2 ** 31 - 1)) {
    throw new SnaxError('INVALID_ARGUMENT', `shardTokens must be an integer in [1, 2147483647], got ${String(shardTokens)}`);
  }
  if (seed !== undefined && (!Number.isSafeInteger(seed) || seed < 0)) {
    throw new SnaxError('INVALID_ARGUMENT', `seed must be a non-negative integer, got ${String(seed)}`);
  }
}

/** Returns the names of shards already in outDir; throws DATA_OUTPUT_EXISTS for any unless overwrite is set. */
async function findOldShards(storage: Storage, outDir: string, overwrite: boolean): Promise<string[]> {
  const old = (await storage.list(outDir)).filter((name) => SHARD_NAME.test(name));
  if (old.length > 0 && !overwrite) {
    throw new SnaxError('DATA_OUTPUT_EXISTS', `output folder ${outDir} already has ${old.length} shards (${old[0]}, ...)`, {
      fix: 'choose another output folder, or pass --overwrite to replace them',
    });
  }
  return old;
}

/** Reads, splits, tokenizes and writes the inputs as train and validation shards. */
export async function prepareData(options: PrepareOptions): Promise<PrepareResult> {
  checkOptions(options);
  const tokenizer = typeof options.tokenizer === 'string' ? getTokenizer(options.tokenizer) : options.tokenizer;
  const seed = options.seed ?? DEFAULT_PREPARE_SEED;
  const shardTokens = options.shardTokens ?? DEFAULT_SHARD_TOKENS;
  const storage = storageFor(options.outDir);

  // Fail on a bad output folder before the slow part.
  await storage.ensureWritable(options.outDir);
  const oldShards = await findOldShards(storage, options.outDir, options.overwrite ?? false);

  const documents: TextDocument[] = [];
  for (const input of options.inputs) documents.push(...(await readInput(input)));

  // Whole documents go to one split; the seeded shuffle picks the validation ones.
  const valCount = Math.max(1, Math.round(options.valFraction * documents.length));
  if (documents.length - valCount < 1) {
    throw new SnaxError(
      'DATA_TOO_SHORT',
      `the inputs hold ${documents.length} document(s), but at least 2 are needed (one for each split)`,
      { fix: 'add more text, or separate documents in a text file with blank lines' },
    );
  }
  const order = shuffle(Array.from(documents.keys()), seededRandom(seed, 1));
  const isVal = new Uint8Array(documents.length);
  for (const index of order.slice(0, valCount)) isVal[index] = 1;

  // Old shards go only once the inputs have been read, so a bad input leaves them in place.
  for (const name of oldShards) await storage.remove(joinPath(options.outDir, name));

  const separator = tokenizer.eotToken ?? tokenizer.encode('\n')[0];
  const train = new ShardWriter(storage, options.outDir, 'train', shardTokens);
  const val = new ShardWriter(storage, options.outDir, 'val', shardTokens);
  for (let i = 0; i < documents.length; i++) {
    await (isVal[i] ? val : train).addDocument(separator, tokenizer.encode(documents[i].text));
  }
  await train.flush();
  await val.flush();

  const result: PrepareResult = {
    trainTokens: train.tokens,
    valTokens: val.tokens,
    trainDocuments: train.documents,
    valDocuments: val.documents,
    files: [...train.files, ...val.files],
  };
  const description = {
    tokenizer: tokenizer.name,
    vocabSize: tokenizer.vocabSize,
    separator,
    inputs: options.inputs,
    valFraction: options.valFraction,
    seed,
    shardTokens,
    ...result,
    files: result.files.map(baseName),
  };
  await storage.writeFile(joinPath(options.outDir, 'dataset.json'), JSON.stringify(description, null, 2) + '\n');
  return result;
}
