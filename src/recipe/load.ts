/**
 * Loads a recipe: reads the YAML, applies `--set` overrides, validates the
 * result against the JSON Schema, fills defaults and runs the cross-field
 * checks. Every failure is a SnaxError (RECIPE_NOT_FOUND, RECIPE_SYNTAX or
 * RECIPE_INVALID) that lists all problems found, each with its source
 * location, key path, value, what is allowed and a fix.
 */
import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { SnaxError } from '../errors.js';
import { applyOverrides } from './overrides.js';
import { crossFieldProblems } from './checks.js';
import { type LocatedProblem, type RecipeProblem, RecipeError } from './problems.js';
import { resolveRecipe } from './resolve.js';
import { schemaProblems } from './schema-problems.js';
import { RecipeSource } from './source.js';
import type { Recipe } from './types.js';

/** Reads and checks the recipe file at a local path, applying `--set path=value` overrides in order. */
export async function loadRecipe(path: string, overrides: string[] = []): Promise<Recipe> {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) {
    throw new SnaxError('RECIPE_NOT_FOUND', `recipe ${path} is not a local path; recipes are read from local files only`, {
      fix: 'copy the recipe to a local file and pass its path',
    });
  }

  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    let reason = `cannot be read (${code ?? String(error)})`;
    if (code === 'ENOENT') reason = 'not found';
    if (code === 'EISDIR') reason = 'is a folder, not a file';
    throw new SnaxError('RECIPE_NOT_FOUND', `recipe file ${path} ${reason}`, {
      fix: 'pass the path of a recipe YAML file, such as recipes/smoke.yaml',
      cause: error,
    });
  }
  return parseRecipe(text, path, overrides);
}

/** Parses and checks recipe text; `sourceName` names the text in messages and gives the default run name. */
export function parseRecipe(text: string, sourceName: string, overrides: string[] = []): Recipe {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems: LocatedProblem[] = doc.errors.map((error) => {
      const position = error.linePos?.[0] ?? lineCounter.linePos(error.pos[0]);
      return {
        location: `${sourceName}:${position.line}:${position.col}`,
        path: [],
        value: undefined,
        issue: `YAML syntax error: ${error.message.split('\n')[0].replace(/\s*at line \d+, column \d+:?\s*$/, '')}`,
        allowed: 'YAML 1.2 mappings of sections and keys',
        fix: error.code === 'DUPLICATE_KEY' ? 'remove one of the two keys' : 'correct the YAML at that line (check indentation, colons and brackets)',
        anchor: 'value',
      };
    });
    throw new RecipeError('RECIPE_SYNTAX', sourceName, problems);
  }

  const source = new RecipeSource(sourceName, doc, lineCounter);
  const overrideProblems = applyOverrides(source, overrides);
  if (overrideProblems.length > 0) throw new RecipeError('RECIPE_INVALID', sourceName, overrideProblems);

  const data: unknown = doc.toJS() ?? {};
  const invalid = schemaProblems(data);
  if (invalid.length > 0) throw new RecipeError('RECIPE_INVALID', sourceName, locateAll(source, invalid));

  const recipe = resolveRecipe(data, sourceName);
  const inconsistent = crossFieldProblems(recipe, data);
  if (inconsistent.length > 0) throw new RecipeError('RECIPE_INVALID', sourceName, locateAll(source, inconsistent));
  return recipe;
}

/** Gives each problem its source location and sorts them in source order (values from --set last). */
function locateAll(source: RecipeSource, problems: RecipeProblem[]): LocatedProblem[] {
  const located = problems.map((problem) => {
    const location = source.locate(problem.path, problem.anchor);
    return { problem: { ...problem, location: location.text }, offset: location.offset };
  });
  located.sort((a, b) => a.offset - b.offset);
  return located.map((entry) => entry.problem);
}
