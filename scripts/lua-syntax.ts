// Syntax check of Lua scripts as Redis runs them (Lua 5.1), includes resolved the way the
// loader resolves them (src/redis/lua-source.ts). Used by scripts/check-lua.ts.
import luaparse from 'luaparse';
import { resolveLua, type LuaOrigin } from '../src/redis/lua-source.js';

/** `file:line: message` for a luaparse error at `line` of a script whose lines came from `origins`. */
function located(error: unknown, origins: (line: number) => LuaOrigin): string {
  if (!(error instanceof SyntaxError)) throw error;
  const line = (error as SyntaxError & { line?: number }).line ?? 1;
  const at = origins(line);
  return `${at.file}:${at.line}: ${error.message.replace(/^\[\d+:\d+\] /, '')}`;
}

function parse(source: string): void {
  luaparse.parse(source, { luaVersion: '5.1', comments: false });
}

/**
 * Syntax errors of one file: parsed on its own (so an error names the line of this file),
 * then, for a script (a file outside an `includes/` folder), with its includes inlined, so
 * a missing include or a script that only breaks once assembled fails too.
 */
export function luaErrors(file: string, read: (path: string) => string | undefined): string[] {
  const text = read(file);
  if (text === undefined) return [`${file}: not found`];
  try {
    parse(text);
  } catch (error) {
    return [located(error, (line) => ({ file, line }))];
  }
  if (/[\\/]includes[\\/]/.test(file)) return [];
  let resolved;
  try {
    resolved = resolveLua(file, read);
  } catch (error) {
    return [error instanceof Error ? error.message : String(error)];
  }
  try {
    parse(resolved.source);
  } catch (error) {
    return [located(error, (line) => resolved.origins[line - 1] ?? { file, line })];
  }
  return [];
}
