import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { brownFolder, brownToText, readBrownDocuments } from '../../src/data/brown.js';

/**
 * Collects the part-of-speech tags of the raw corpus files, less those that
 * are also words of the corpus (such as "in" in "hr./in."), so a leftover
 * tag is found without flagging real text.
 */
function corpusTags(): Set<string> {
  const folder = brownFolder();
  const tags = new Set<string>();
  const words = new Set<string>();
  for (const name of readdirSync(folder).filter((file) => /^c[a-r]\d\d$/.test(file))) {
    for (const tagged of readFileSync(join(folder, name), 'utf8').split(/\s+/)) {
      const slash = tagged.lastIndexOf('/');
      if (slash <= 0) continue;
      tags.add(tagged.slice(slash + 1));
      for (const part of tagged.slice(0, slash).toLowerCase().split(/[^a-z]+/)) words.add(part);
    }
  }
  for (const word of words) tags.delete(word);
  return tags;
}

describe('brownToText', () => {
  it('strips tags', () => {
    expect(brownToText('\tThe/at Fulton/np-tl County/nn-tl said/vbd ./.')).toBe('The Fulton County said.');
  });

  it('attaches punctuation and quotes', () => {
    const tagged = "\tHe/pps said/vbd ,/, ``/`` no/at evidence/nn ''/'' (/( really/rb )/) ;/. 1/2/cd ./.";
    expect(brownToText(tagged)).toBe('He said, "no evidence" (really); 1/2.');
  });

  it('keeps one period after an abbreviation', () => {
    expect(brownToText('\tIvan/np Allen/np Jr./np ./.')).toBe('Ivan Allen Jr.');
  });

  it('joins sentences with a space', () => {
    expect(brownToText('\n\n\tOne/cd ./.\n\n\n\tTwo/cd ./.\n')).toBe('One. Two.');
  });
});

describe('readBrownDocuments', () => {
  it('reads 500 tag-free documents', async () => {
    const documents = await readBrownDocuments();
    expect(documents.length).toBe(500);
    expect(documents[0].source).toBe('brown/ca01');
    expect(documents[0].text.startsWith('The Fulton County Grand Jury said Friday')).toBe(true);
    const tags = corpusTags();
    expect(tags.size).toBeGreaterThan(80);
    const leftovers: string[] = [];
    for (const document of documents) {
      for (const word of document.text.split(/\s+/)) {
        const slash = word.lastIndexOf('/');
        const suffix = word.slice(slash + 1).replace(/[.,;:!?")]+$/, '');
        if (slash > 0 && tags.has(suffix)) leftovers.push(`${document.source}: ${word}`);
      }
    }
    expect(leftovers).toEqual([]);
    const totalWords = documents.reduce((sum, document) => sum + document.text.split(/\s+/).length, 0);
    expect(totalWords).toBeGreaterThan(900_000);
  });
});
