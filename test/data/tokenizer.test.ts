import { describe, expect, it } from 'vitest';
import { getTokenizer } from '../../src/data/tokenizer.js';
import type { TokenizerName } from '../../src/recipe/types.js';

describe('byte tokenizer', () => {
  const tokenizer = getTokenizer('byte');

  it('has vocabulary 256', () => {
    expect(tokenizer.vocabSize).toBe(256);
    expect(tokenizer.eotToken).toBeUndefined();
  });

  it('encodes UTF-8 bytes', () => {
    expect(tokenizer.encode('Aé')).toEqual([0x41, 0xc3, 0xa9]);
  });

  it('round-trips Unicode text', () => {
    const text = 'Grüße, 世界! 🚀 naïve café\nline two';
    const ids = tokenizer.encode(text);
    expect(ids.every((id) => id >= 0 && id < 256)).toBe(true);
    expect(tokenizer.decode(ids)).toBe(text);
  });
});

describe('gpt2 tokenizer', () => {
  const tokenizer = getTokenizer('gpt2');

  it('has the GPT-2 vocabulary', () => {
    expect(tokenizer.vocabSize).toBe(50257);
    expect(tokenizer.eotToken).toBe(50256);
  });

  it('encodes Hello world', () => {
    expect(tokenizer.encode('Hello world')).toEqual([15496, 995]);
  });

  it('decodes known ids', () => {
    expect(tokenizer.decode([15496, 995])).toBe('Hello world');
  });

  it('round-trips Unicode text', () => {
    const text = 'Grüße, 世界! 🚀 naïve café';
    expect(tokenizer.decode(tokenizer.encode(text))).toBe(text);
  });

  it('encodes the eot text as plain text', () => {
    const ids = tokenizer.encode('a <|endoftext|> b');
    expect(ids).not.toContain(50256);
    expect(tokenizer.decode(ids)).toBe('a <|endoftext|> b');
  });
});

describe('getTokenizer', () => {
  it('rejects an unknown name', () => {
    expect(() => getTokenizer('bert' as TokenizerName)).toThrow(/unknown tokenizer "bert", expected one of: byte, gpt2/);
  });
});
