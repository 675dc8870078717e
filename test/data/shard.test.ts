import { afterAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readShard, writeShard } from '../../src/data/shard.js';
import { storageFor } from '../../src/storage/storage.js';
import { makeRandom } from '../helpers/numeric.js';

const folder = mkdtempSync(join(tmpdir(), 'snax-shard-'));
const storage = storageFor(folder);
afterAll(() => rmSync(folder, { recursive: true, force: true }));

function randomTokens(seed: number, count: number): Uint16Array {
  const random = makeRandom(seed);
  const tokens = new Uint16Array(count);
  for (let i = 0; i < count; i++) tokens[i] = Math.floor(random() * 65536);
  return tokens;
}

describe('shard', () => {
  it('round-trips tokens', async () => {
    const tokens = randomTokens(1, 10_001);
    const path = join(folder, 'round.bin');
    await writeShard(storage, path, tokens);
    expect(await readShard(storage, path)).toEqual(tokens);
  });

  it('round-trips an empty shard', async () => {
    const path = join(folder, 'empty.bin');
    await writeShard(storage, path, new Uint16Array(0));
    expect((await readShard(storage, path)).length).toBe(0);
  });

  it('writes the llm.c header', async () => {
    const path = join(folder, 'header.bin');
    await writeShard(storage, path, new Uint16Array([7, 8, 9]));
    const bytes = readFileSync(path);
    expect(bytes.length).toBe(1024 + 6);
    expect(bytes.readInt32LE(0)).toBe(20240520);
    expect(bytes.readInt32LE(4)).toBe(1);
    expect(bytes.readInt32LE(8)).toBe(3);
    expect(bytes.readUInt16LE(1024)).toBe(7);
    expect(bytes.readUInt16LE(1028)).toBe(9);
  });

  it('reads a hand-written llm.c shard', async () => {
    const tokens = randomTokens(2, 333);
    const header = new Int32Array(256);
    header[0] = 20240520;
    header[1] = 1;
    header[2] = tokens.length;
    const path = join(folder, 'llmc.bin');
    writeFileSync(path, Buffer.concat([Buffer.from(header.buffer), Buffer.from(tokens.buffer)]));
    expect(await readShard(storage, path)).toEqual(tokens);
  });

  it('rejects a bad magic', async () => {
    const path = join(folder, 'magic.bin');
    await writeShard(storage, path, new Uint16Array([1, 2]));
    const bytes = readFileSync(path);
    bytes.writeInt32LE(12345, 0);
    writeFileSync(path, bytes);
    const attempt = readShard(storage, path);
    await expect(attempt).rejects.toMatchObject({ code: 'SHARD_BAD_HEADER' });
    await expect(attempt).rejects.toThrow(/magic.bin has magic 12345 and version 1, expected magic 20240520/);
  });

  it('rejects a bad version', async () => {
    const path = join(folder, 'version.bin');
    await writeShard(storage, path, new Uint16Array([1, 2]));
    const bytes = readFileSync(path);
    bytes.writeInt32LE(2, 4);
    writeFileSync(path, bytes);
    await expect(readShard(storage, path)).rejects.toMatchObject({ code: 'SHARD_BAD_HEADER' });
  });

  it('rejects a truncated body', async () => {
    const path = join(folder, 'truncated.bin');
    await writeShard(storage, path, new Uint16Array(100));
    writeFileSync(path, readFileSync(path).subarray(0, 1024 + 150));
    const attempt = readShard(storage, path);
    await expect(attempt).rejects.toMatchObject({ code: 'SHARD_TRUNCATED' });
    await expect(attempt).rejects.toThrow(/has 1174 bytes, but its header says 100 tokens \(1224 bytes\)/);
  });

  it('rejects a truncated header', async () => {
    const path = join(folder, 'short.bin');
    writeFileSync(path, Buffer.alloc(100));
    await expect(readShard(storage, path)).rejects.toMatchObject({ code: 'SHARD_TRUNCATED' });
  });

  it('rejects trailing bytes', async () => {
    const path = join(folder, 'long.bin');
    await writeShard(storage, path, new Uint16Array(4));
    writeFileSync(path, Buffer.concat([readFileSync(path), Buffer.alloc(2)]));
    await expect(readShard(storage, path)).rejects.toMatchObject({ code: 'SHARD_BAD_HEADER' });
  });

  it('rejects a token outside the vocabulary', async () => {
    const path = join(folder, 'vocab.bin');
    await writeShard(storage, path, new Uint16Array([1, 255, 256, 3]));
    const attempt = readShard(storage, path, 256);
    await expect(attempt).rejects.toMatchObject({ code: 'SHARD_BAD_TOKEN' });
    await expect(attempt).rejects.toThrow(/token 256 at position 2/);
  });

  it('accepts tokens inside the vocabulary', async () => {
    const path = join(folder, 'vocab-ok.bin');
    await writeShard(storage, path, new Uint16Array([0, 255]));
    expect(await readShard(storage, path, 256)).toEqual(new Uint16Array([0, 255]));
  });
});
