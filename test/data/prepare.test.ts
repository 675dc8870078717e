import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expandGlob } from '../../src/data/glob.js';
import { firstInvalidUtf8, prepareData, splitDocuments } from '../../src/data/prepare.js';
import { readShard } from '../../src/data/shard.js';
import { getTokenizer } from '../../src/data/tokenizer.js';
import { TokenDataset } from '../../src/data/dataset.js';
import { storageFor } from '../../src/storage/storage.js';
import { startS3, type TestS3 } from '../helpers/s3.js';

const root = mkdtempSync(join(tmpdir(), 'snax-prepare-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Twenty short paragraphs separated by blank lines. */
const paragraphs = Array.from({ length: 20 }, (_, i) => `Paragraph ${i} says héllo to line one.\nAnd line two of ${i}.`);
const textFile = join(root, 'small.txt');
writeFileSync(textFile, paragraphs.join('\n\n') + '\n');

/** Decodes a byte-tokenized split into its documents (each preceded by a newline). */
function byteDocuments(tokens: Uint16Array): string[] {
  const text = getTokenizer('byte').decode(tokens);
  expect(text.startsWith('\n')).toBe(true);
  return text.slice(1).split('\n').reduce<string[]>((documents, line) => {
    if (line.startsWith('Paragraph')) documents.push(line);
    else documents[documents.length - 1] += '\n' + line;
    return documents;
  }, []);
}

describe('splitDocuments', () => {
  it('splits at blank lines', () => {
    const documents = splitDocuments('a\nb\n\n\nc\r\n \r\nd\n\n', 'f');
    expect(documents.map((document) => document.text)).toEqual(['a\nb', 'c', 'd']);
  });
});

describe('expandGlob', () => {
  const folder = join(root, 'glob');
  beforeAll(() => {
    mkdirSync(join(folder, 'sub', 'deep'), { recursive: true });
    for (const name of ['a.txt', 'b.txt', 'c.md', '.hidden.txt', 'sub/d.txt', 'sub/deep/e.txt']) {
      writeFileSync(join(folder, name), name);
    }
  });

  it('matches a star', async () => {
    expect(await expandGlob(join(folder, '*.txt'))).toEqual([join(folder, 'a.txt'), join(folder, 'b.txt')]);
  });

  it('matches a double star', async () => {
    expect(await expandGlob(join(folder, '**', '*.txt'))).toEqual(
      [join(folder, 'a.txt'), join(folder, 'b.txt'), join(folder, 'sub/d.txt'), join(folder, 'sub/deep/e.txt')].sort(),
    );
  });

  it('matches classes and question marks', async () => {
    expect(await expandGlob(join(folder, '[!a].t?t'))).toEqual([join(folder, 'b.txt')]);
  });

  it('returns nothing for no match', async () => {
    expect(await expandGlob(join(folder, '*.csv'))).toEqual([]);
  });
});

describe('prepareData', () => {
  it('writes byte shards', async () => {
    const outDir = join(root, 'byte-out');
    const result = await prepareData({ inputs: [textFile], tokenizer: 'byte', outDir, valFraction: 0.1 });
    expect(result.files).toEqual([join(outDir, 'train_000000.bin'), join(outDir, 'val_000000.bin')]);
    expect(result.valDocuments).toBe(2);
    expect(result.trainDocuments).toBe(18);

    const storage = storageFor(outDir);
    const train = await readShard(storage, result.files[0], 256);
    const val = await readShard(storage, result.files[1], 256);
    expect(train.length).toBe(result.trainTokens);
    expect(val.length).toBe(result.valTokens);

    const trainDocuments = byteDocuments(train);
    const valDocuments = byteDocuments(val);
    expect([...trainDocuments, ...valDocuments].sort()).toEqual([...paragraphs].sort());
    expect(trainDocuments.filter((document) => valDocuments.includes(document))).toEqual([]);
  });

  it('splits the same way for the same seed', async () => {
    const first = await prepareData({ inputs: [textFile], tokenizer: 'byte', outDir: join(root, 'seed-a'), valFraction: 0.25, seed: 5 });
    const second = await prepareData({ inputs: [textFile], tokenizer: 'byte', outDir: join(root, 'seed-b'), valFraction: 0.25, seed: 5 });
    expect(readFileSync(second.files[1])).toEqual(readFileSync(first.files[1]));
    const other = await prepareData({ inputs: [textFile], tokenizer: 'byte', outDir: join(root, 'seed-c'), valFraction: 0.25, seed: 6 });
    expect(readFileSync(other.files[1]).equals(readFileSync(first.files[1]))).toBe(false);
  });

  it('separates gpt2 documents with eot', async () => {
    const outDir = join(root, 'gpt2-out');
    const result = await prepareData({ inputs: [textFile], tokenizer: 'gpt2', outDir, valFraction: 0.5 });
    const train = await TokenDataset.open(outDir, 'train', 50257);
    const val = await TokenDataset.open(outDir, 'val', 50257);
    expect(train.tokens.filter((token) => token === 50256).length).toBe(result.trainDocuments);
    expect(val.tokens.filter((token) => token === 50256).length).toBe(result.valDocuments);
    expect(train.tokens[0]).toBe(50256);
    const tokenizer = getTokenizer('gpt2');
    const texts = tokenizer.decode(val.tokens).split('<|endoftext|>').slice(1);
    expect(texts.every((text) => paragraphs.includes(text))).toBe(true);
  });

  it('cuts shards at shardTokens', async () => {
    const outDir = join(root, 'small-shards');
    const result = await prepareData({ inputs: [textFile], tokenizer: 'byte', outDir, valFraction: 0.1, shardTokens: 300 });
    const trainFiles = result.files.filter((file) => file.includes('train_'));
    expect(trainFiles.length).toBe(Math.ceil(result.trainTokens / 300));
    expect(trainFiles[1]).toBe(join(outDir, 'train_000001.bin'));
    const dataset = await TokenDataset.open(outDir, 'train');
    expect(dataset.tokenCount).toBe(result.trainTokens);
    expect(byteDocuments(dataset.tokens).length).toBe(result.trainDocuments);
  });

  it('writes dataset.json', async () => {
    const outDir = join(root, 'description');
    await prepareData({ inputs: [textFile], tokenizer: 'byte', outDir, valFraction: 0.1 });
    const description = JSON.parse(readFileSync(join(outDir, 'dataset.json'), 'utf8'));
    expect(description.tokenizer).toBe('byte');
    expect(description.vocabSize).toBe(256);
    expect(description.files).toEqual(['train_000000.bin', 'val_000000.bin']);
  });

  it('expands a glob input', async () => {
    const folder = join(root, 'many');
    mkdirSync(folder);
    writeFileSync(join(folder, 'one.txt'), 'first document');
    writeFileSync(join(folder, 'two.txt'), 'second document');
    writeFileSync(join(folder, 'three.txt'), 'third document');
    const result = await prepareData({ inputs: [join(folder, '*.txt')], tokenizer: 'byte', outDir: join(root, 'many-out'), valFraction: 0 });
    expect(result.trainDocuments + result.valDocuments).toBe(3);
    expect(result.valDocuments).toBe(1);
  });

  it('rejects a missing input', async () => {
    const glob = join(root, 'nothing', '*.txt');
    const attempt = prepareData({ inputs: [glob], tokenizer: 'byte', outDir: join(root, 'missing-out'), valFraction: 0.1 });
    await expect(attempt).rejects.toMatchObject({ code: 'DATA_INPUT_NOT_FOUND' });
    await expect(attempt).rejects.toThrow(glob);
  });

  it('rejects a single document', async () => {
    const file = join(root, 'one-document.txt');
    writeFileSync(file, 'only one paragraph here\n');
    const attempt = prepareData({ inputs: [file], tokenizer: 'byte', outDir: join(root, 'one-out'), valFraction: 0.1 });
    await expect(attempt).rejects.toMatchObject({ code: 'DATA_TOO_SHORT' });
  });

  it('rejects existing shards', async () => {
    const outDir = join(root, 'twice');
    await prepareData({ inputs: [textFile], tokenizer: 'byte', outDir, valFraction: 0.1, shardTokens: 300 });
    const again = prepareData({ inputs: [textFile], tokenizer: 'byte', outDir, valFraction: 0.1 });
    await expect(again).rejects.toMatchObject({ code: 'DATA_OUTPUT_EXISTS' });
    const badInput = prepareData({ inputs: [join(root, 'absent.txt')], tokenizer: 'byte', outDir, valFraction: 0.1, overwrite: true });
    await expect(badInput).rejects.toMatchObject({ code: 'DATA_INPUT_NOT_FOUND' });
    expect(await storageFor(outDir).exists(join(outDir, 'train_000001.bin'))).toBe(true);
    const result = await prepareData({ inputs: [textFile], tokenizer: 'byte', outDir, valFraction: 0.1, overwrite: true });
    expect((await storageFor(outDir).list(outDir)).filter((name) => name.endsWith('.bin'))).toEqual(
      result.files.map((file) => file.slice(outDir.length + 1)),
    );
  });

  it('rejects a bad val fraction', async () => {
    const attempt = prepareData({ inputs: [textFile], tokenizer: 'byte', outDir: join(root, 'bad'), valFraction: 1 });
    await expect(attempt).rejects.toThrow(/valFraction must be in \[0, 1\), got 1/);
  });

  it('prepares the Brown corpus', async () => {
    const outDir = join(root, 'brown');
    const result = await prepareData({ inputs: ['brown'], tokenizer: 'byte', outDir, valFraction: 0.02 });
    expect(result.valDocuments).toBe(10);
    expect(result.trainDocuments).toBe(490);
    expect(result.trainTokens + result.valTokens).toBeGreaterThan(5_000_000);
  });
});

describe('prepareData on s3', () => {
  let s3: TestS3;
  beforeAll(async () => {
    s3 = await startS3();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('writes shards to s3', async () => {
    const outDir = `s3://${s3.bucket}/prepared`;
    const result = await prepareData({ inputs: [textFile], tokenizer: 'byte', outDir, valFraction: 0.1 });
    expect(result.files).toEqual([`${outDir}/train_000000.bin`, `${outDir}/val_000000.bin`]);
    expect(await storageFor(outDir).list(outDir)).toEqual(['dataset.json', 'train_000000.bin', 'val_000000.bin']);
    const local = await prepareData({ inputs: [textFile], tokenizer: 'byte', outDir: join(root, 's3-twin'), valFraction: 0.1 });
    const train = await TokenDataset.open(outDir, 'train', 256);
    expect(train.tokens).toEqual(await readShard(storageFor(local.files[0]), local.files[0]));
  });
});

describe('firstInvalidUtf8', () => {
  it('accepts valid text', () => {
    expect(firstInvalidUtf8(Buffer.from('plain, café, 日本, 🙂', 'utf8'))).toBe(-1);
  });

  it('finds a Latin-1 byte', () => {
    expect(firstInvalidUtf8(Buffer.from([0x61, 0x62, 0xe9, 0x63]))).toBe(2);
  });

  it('rejects overlong forms, surrogates and truncation', () => {
    expect(firstInvalidUtf8(Buffer.from([0xc0, 0xaf]))).toBe(0);
    expect(firstInvalidUtf8(Buffer.from([0xed, 0xa0, 0x80]))).toBe(0);
    expect(firstInvalidUtf8(Buffer.from([0x61, 0xe6, 0x97]))).toBe(1);
  });
});
