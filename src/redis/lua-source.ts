import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Lua scripts live in `.lua` files next to the module that runs them (copied into dist/ by
 * scripts/copy-assets.ts). Functions shared by several scripts live in `includes/` and are
 * pulled in by a line of its own, `--- @include "includes/newer"` (a path relative to the
 * including file, `.lua` implied): Lua has no modules inside Redis, so the loader inlines
 * each included file once, in place of the first directive naming it.
 */

/** `--- @include "path"` on a line of its own (two or more dashes). */
const INCLUDE = /^\s*--+\s*@include\s+"([^"]+)"\s*$/;

/** Where one line of a resolved script came from (for error messages: file and line). */
export interface LuaOrigin {
  file: string;
  line: number;
}

export interface ResolvedLua {
  source: string;
  /** origins[i]: the file and line (1-based) of line i + 1 of `source`. */
  origins: LuaOrigin[];
}

/** The file an include directive names, relative to the including file. */
export function includePath(from: string, name: string): string {
  return join(dirname(from), name.endsWith('.lua') ? name : `${name}.lua`);
}

/**
 * The script in `file` with its includes inlined, recursively, each file once (a second
 * directive for a file already inlined becomes empty). `read` returns a file's text, or
 * undefined when there is none: a missing include is an error naming the file that wants it.
 */
export function resolveLua(file: string, read: (path: string) => string | undefined): ResolvedLua {
  const lines: string[] = [];
  const origins: LuaOrigin[] = [];
  const seen = new Set<string>([file]);
  const visit = (path: string, text: string): void => {
    text.split(/\r?\n/).forEach((line, index) => {
      const name = INCLUDE.exec(line)?.[1];
      if (name === undefined) {
        lines.push(line);
        origins.push({ file: path, line: index + 1 });
        return;
      }
      const included = includePath(path, name);
      if (seen.has(included)) return;
      seen.add(included);
      const body = read(included);
      if (body === undefined) throw new Error(`${path}:${index + 1}: included file not found: ${included}`);
      visit(included, body);
    });
  };
  const text = read(file);
  if (text === undefined) throw new Error(`Lua script not found: ${file}`);
  visit(file, text);
  return { source: lines.join('\n'), origins };
}

/** A file's text, or undefined when it does not exist. */
export function readIfExists(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

const cache = new Map<string, string>();

/**
 * The script at `url` (e.g. `new URL('./lua/claim-due.lua', import.meta.url)`), includes
 * resolved; read from disk once per process. Modules call it at load time, so a missing file
 * fails the process at start, not on the first call.
 */
export function loadLua(url: URL): string {
  const file = fileURLToPath(url);
  let source = cache.get(file);
  if (source === undefined) {
    source = resolveLua(file, readIfExists).source;
    cache.set(file, source);
  }
  return source;
}
