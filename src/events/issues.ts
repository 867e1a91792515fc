import type { z } from 'zod';
import { describeValue, printableKey } from './values.js';

/**
 * Turns zod issues into the `<path>: <problem>` lines a POS integrator or an operator
 * reads. The schemas in this folder set their own messages, so this only shapes paths and
 * splits the issues zod groups (one line per unknown key, so each can be fixed on its own).
 */

/** Explains why `key` is not accepted inside the object at `parent`. */
export type UnknownKeyExplainer = (parent: readonly PropertyKey[], key: string) => string;

/** `data.amount`, `events.kiosk_visit.private[0]`; `root` names the empty path. */
export function formatPath(path: readonly PropertyKey[], root: string): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += (out === '' ? '' : '.') + printableKey(String(part));
  }
  return out === '' ? root : out;
}

/** One line per problem, in the order zod found them. */
export function formatIssues(
  issues: readonly z.core.$ZodIssue[],
  root: string,
  unknownKey: UnknownKeyExplainer,
): string[] {
  const lines: string[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        lines.push(`${formatPath([...issue.path, key], root)}: ${unknownKey(issue.path, key)}`);
      }
    } else if (issue.code === 'invalid_key') {
      // The key's own schema knows what is wrong with it; zod's wrapper only says "Invalid key".
      lines.push(`${formatPath(issue.path, root)}: ${issue.issues[0]?.message ?? issue.message}`);
    } else {
      lines.push(`${formatPath(issue.path, root)}: ${issue.message}`);
    }
  }
  return lines;
}

/**
 * A zod error customiser for type mismatches: `expected a number, got "12,50"`, or
 * `required; expected …` when the value is missing. Other issue codes keep the message
 * their check sets.
 */
export function expecting(what: string): (issue: { code?: string; input?: unknown }) => string | undefined {
  return (issue) => {
    if (issue.code !== 'invalid_type' && issue.code !== 'invalid_value') return undefined;
    if (issue.input === undefined) return `required; expected ${what}`;
    return `expected ${what}, got ${describeValue(issue.input)}`;
  };
}
