/**
 * Tokenizers that turn text into token ids and back.
 *
 * - byte: the UTF-8 bytes of the text, vocabulary 256, no end-of-text token.
 * - gpt2: GPT-2's byte-pair encoding (the r50k_base encoding of the
 *   gpt-tokenizer package), vocabulary 50257, end-of-text token 50256.
 *   The package is loaded on first use because its merge tables take time to
 *   load, and commands that never tokenize should not pay for them.
 */
import { createRequire } from 'node:module';
import { SnaxError } from '../errors.js';
import type { TokenizerName } from '../recipe/types.js';

export interface Tokenizer {
  name: TokenizerName;
  vocabSize: number;
  encode(text: string): number[];
  decode(ids: ArrayLike<number>): string;
  /** The token that separates documents, when the tokenizer has one. */
  eotToken?: number;
}

export const TOKENIZER_NAMES: readonly TokenizerName[] = ['byte', 'gpt2'];

const byteTokenizer: Tokenizer = {
  name: 'byte',
  vocabSize: 256,
  encode(text: string): number[] {
    return Array.from(Buffer.from(text, 'utf8'));
  },
  decode(ids: ArrayLike<number>): string {
    return Buffer.from(Uint8Array.from(ids)).toString('utf8');
  },
};

interface R50kModule {
  encode(text: string, options?: { disallowedSpecial?: Set<string> }): number[];
  decode(ids: Iterable<number>): string;
  vocabularySize: number;
}

let gpt2Tokenizer: Tokenizer | undefined;

function loadGpt2(): Tokenizer {
  if (gpt2Tokenizer) return gpt2Tokenizer;
  // The package's CommonJS build loads synchronously, so getTokenizer can stay synchronous.
  const require = createRequire(import.meta.url);
  const r50k = require('gpt-tokenizer/cjs/encoding/r50k_base') as R50kModule;
  // Text such as "<|endoftext|>" inside a document is encoded as plain text,
  // never as the end-of-text token, so a document cannot fake a separator.
  const plainText = { disallowedSpecial: new Set<string>() };
  gpt2Tokenizer = {
    name: 'gpt2',
    vocabSize: r50k.vocabularySize,
    eotToken: 50256,
    encode: (text: string) => r50k.encode(text, plainText),
    decode: (ids: ArrayLike<number>) => r50k.decode(Array.from(ids)),
  };
  return gpt2Tokenizer;
}

/** Returns the tokenizer with this name; throws INVALID_ARGUMENT for an unknown name. */
export function getTokenizer(name: TokenizerName): Tokenizer {
  if (name === 'byte') return byteTokenizer;
  if (name === 'gpt2') return loadGpt2();
  throw new SnaxError('INVALID_ARGUMENT', `unknown tokenizer "${String(name)}", expected one of: ${TOKENIZER_NAMES.join(', ')}`);
}
