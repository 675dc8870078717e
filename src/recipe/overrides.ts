/**
 * `--set path=value` overrides. Each one writes a value into the parsed YAML
 * before validation, so the schema checks it like any value from the file.
 * The value is parsed as YAML (`3`, `true`, `1e-3`, `[brown]` keep their
 * types), and the path must name a key the schema allows. A value of null
 * (`--set key=null`, `key=~` or `key=`) removes the key, so its default
 * applies; no recipe key takes null as a value.
 */
import { YAMLParseError, parse } from 'yaml';
import type { LocatedProblem } from './problems.js';
import { unknownKeyProblem } from './problems.js';
import { allowedKeys } from './schema.js';
import type { RecipeSource } from './source.js';

/** Applies the overrides in order (a later one wins) and returns the problems with them; none were applied when any is returned. */
export function applyOverrides(source: RecipeSource, overrides: readonly string[]): LocatedProblem[] {
  const problems: LocatedProblem[] = [];
  const parsed: Array<{ path: string[]; value: unknown; argument: string }> = [];

  for (const argument of overrides) {
    const location = `--set ${argument}`;
    const equals = argument.indexOf('=');
    const path = equals > 0 ? argument.slice(0, equals).trim().split('.') : [];
    if (path.length === 0 || path.some((key) => key.length === 0)) {
      problems.push({
        location,
        path: [],
        value: argument,
        issue: `--set expects path=value with a dotted key path, got "${argument}"`,
        allowed: 'path=value, such as moe.active=4',
        fix: 'write the key path, an equals sign and the value, such as --set train.steps=100',
        anchor: 'value',
      });
      continue;
    }

    const valueText = argument.slice(equals + 1);
    let value: unknown;
    try {
      value = parse(valueText);
    } catch (error) {
      if (!(error instanceof YAMLParseError)) throw error;
      problems.push({
        location,
        path,
        value: valueText,
        issue: `--set value is not valid YAML (${error.message.split('\n')[0]})`,
        allowed: 'a YAML scalar or flow list, such as 4, true, 1e-3, cosine or [brown]',
        fix: 'quote the value for the shell or fix its YAML',
        anchor: 'value',
      });
      continue;
    }

    const unknownAt = path.findIndex((key, i) => !allowedKeys(path.slice(0, i)).includes(key));
    if (unknownAt >= 0) {
      const keyPath = path.slice(0, unknownAt + 1);
      const problem = unknownKeyProblem(keyPath, value, allowedKeys(path.slice(0, unknownAt)), ' in --set');
      problems.push({ ...problem, location, issue: `${problem.issue} (from --set)` });
      continue;
    }
    parsed.push({ path, value, argument });
  }
  if (problems.length > 0) return problems;

  const doc = source.doc;
  if (doc.contents === null) doc.contents = doc.createNode({});
  for (const { path, value, argument } of parsed) {
    try {
      if (value === null) {
        if (doc.hasIn(path)) doc.deleteIn(path);
        continue;
      }
      doc.setIn(path, doc.createNode(value));
    } catch (error) {
      // yaml throws when a key on the path contains a scalar or a list instead of a mapping.
      problems.push({
        location: `--set ${argument}`,
        path,
        value,
        issue: `cannot set this key because a key above it in ${source.name} is not a mapping (${(error as Error).message})`,
        allowed: 'a path through mappings only',
        fix: `make ${path.slice(0, -1).join('.') || 'the file'} a mapping in ${source.name}`,
        anchor: 'value',
      });
      continue;
    }
    source.markOverride(path, argument);
  }
  return problems;
}
