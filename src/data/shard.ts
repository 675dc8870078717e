/**
 * Token shards in the llm.c format, so shards made by llm.c's scripts work
 * here and SNaX shards work there. A shard is a header of 256 little-endian
 * int32 values (magic 20240520, version 1, token count, then zeros),
 * followed by the tokens as little-endian uint16.
 *
 * Version 2 of that format (uint32 tokens, for vocabularies above 65536) is
 * not read.
 */
import { SnaxError } from '../errors.js';
import type { Storage } from '../storage/storage.js';

export const SHARD_MAGIC = 20240520;
export const SHARD_VERSION = 1;
export const SHARD_HEADER_INTS = 256;
export const SHARD_HEADER_BYTES = SHARD_HEADER_INTS * 4;
const MAX_SHARD_TOKENS = 2 ** 31 - 1;

/** Encodes tokens as one shard file. */
export function encodeShard(tokens: Uint16Array): Buffer {
  if (!(tokens instanceof Uint16Array)) {
    throw new SnaxError('INVALID_DTYPE', `shard tokens must be a Uint16Array, got ${typeof tokens}`);
  }
  if (tokens.length > MAX_SHARD_TOKENS) {
    throw new SnaxError('INVALID_ARGUMENT', `a shard can contain at most ${MAX_SHARD_TOKENS} tokens, got ${tokens.length}`);
  }
  const buffer = Buffer.alloc(SHARD_HEADER_BYTES + tokens.length * 2);
  buffer.writeInt32LE(SHARD_MAGIC, 0);
  buffer.writeInt32LE(SHARD_VERSION, 4);
  buffer.writeInt32LE(tokens.length, 8);
  const body = new Uint16Array(buffer.buffer, buffer.byteOffset + SHARD_HEADER_BYTES, tokens.length);
  if (isLittleEndian()) {
    body.set(tokens);
  } else {
    for (let i = 0; i < tokens.length; i++) buffer.writeUInt16LE(tokens[i], SHARD_HEADER_BYTES + 2 * i);
  }
  return buffer;
}

/**
 * Decodes a shard file. `source` names the file in errors. With vocabSize,
 * every token must be below it.
 */
export function decodeShard(buffer: Buffer, source: string, vocabSize?: number): Uint16Array {
  if (buffer.length < SHARD_HEADER_BYTES) {
    throw new SnaxError(
      'SHARD_TRUNCATED',
      `shard ${source} has ${buffer.length} bytes, shorter than the ${SHARD_HEADER_BYTES}-byte header`,
      { fix: 'rewrite the shard, for example with `snax data prepare`' },
    );
  }
  const magic = buffer.readInt32LE(0);
  const version = buffer.readInt32LE(4);
  const count = buffer.readInt32LE(8);
  if (magic !== SHARD_MAGIC || version !== SHARD_VERSION) {
    throw new SnaxError(
      'SHARD_BAD_HEADER',
      `shard ${source} has magic ${magic} and version ${version}, expected magic ${SHARD_MAGIC} and version ${SHARD_VERSION}`,
      { fix: 'check that the file is an llm.c token shard with uint16 tokens' },
    );
  }
  if (count < 0) {
    throw new SnaxError('SHARD_BAD_HEADER', `shard ${source} has a negative token count ${count} in its header`);
  }
  const expectedBytes = SHARD_HEADER_BYTES + count * 2;
  if (buffer.length < expectedBytes) {
    throw new SnaxError(
      'SHARD_TRUNCATED',
      `shard ${source} has ${buffer.length} bytes, but its header says ${count} tokens (${expectedBytes} bytes)`,
      { fix: 'the file was cut short: rewrite it, for example with `snax data prepare`' },
    );
  }
  if (buffer.length > expectedBytes) {
    throw new SnaxError(
      'SHARD_BAD_HEADER',
      `shard ${source} has ${buffer.length} bytes, but its header says ${count} tokens (${expectedBytes} bytes)`,
    );
  }

  // Copy into a fresh, aligned array: the Buffer may start at an odd offset of a shared pool.
  const tokens = new Uint16Array(count);
  if (isLittleEndian()) {
    new Uint8Array(tokens.buffer).set(buffer.subarray(SHARD_HEADER_BYTES, expectedBytes));
  } else {
    for (let i = 0; i < count; i++) tokens[i] = buffer.readUInt16LE(SHARD_HEADER_BYTES + 2 * i);
  }

  if (vocabSize !== undefined) checkTokens(tokens, vocabSize, `shard ${source}`);
  return tokens;
}

/** Throws SHARD_BAD_TOKEN naming the first token >= vocabSize and its position. */
export function checkTokens(tokens: Uint16Array, vocabSize: number, source: string): void {
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] >= vocabSize) {
      throw new SnaxError(
        'SHARD_BAD_TOKEN',
        `${source} has token ${tokens[i]} at position ${i}, expected tokens below the vocabulary size ${vocabSize}`,
        { fix: 'prepare the data with the tokenizer that matches model.vocab_size' },
      );
    }
  }
}

/** Writes tokens to a shard file. */
export async function writeShard(storage: Storage, path: string, tokens: Uint16Array): Promise<void> {
  await storage.writeFile(path, encodeShard(tokens));
}

/** Reads a shard file; with vocabSize, throws SHARD_BAD_TOKEN on a token >= vocabSize. */
export async function readShard(storage: Storage, path: string, vocabSize?: number): Promise<Uint16Array> {
  return decodeShard(await storage.readFile(path), path, vocabSize);
}

function isLittleEndian(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}
