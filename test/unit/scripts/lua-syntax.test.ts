import { describe, expect, it } from 'vitest';
import { luaErrors } from '../../../scripts/lua-syntax.js';

function reader(files: Record<string, string>) {
  return (path: string) => files[path];
}

describe('luaErrors (npm run lint: scripts/check-lua.ts)', () => {
  it('passes a script whose includes resolve and parse', () => {
    const files = {
      '/s/a.lua': '--- @include "includes/f"\nreturn f(KEYS[1], #ARGV)\n',
      '/s/includes/f.lua': 'local function f(a, n) return a .. n end\n',
    };
    expect(luaErrors('/s/a.lua', reader(files))).toEqual([]);
  });

  it('names the file and line of a syntax error', () => {
    expect(luaErrors('/s/a.lua', reader({ '/s/a.lua': 'local a = 1\nif a then\nreturn a\n' }))).toEqual([
      "/s/a.lua:4: 'end' expected near '<eof>'",
    ]);
  });

  it('parses Lua 5.1, as Redis runs it: no goto', () => {
    expect(luaErrors('/s/a.lua', reader({ '/s/a.lua': 'goto done\n::done::\n' }))).toHaveLength(1);
  });

  it('names the include, not the script, when the included file is broken', () => {
    const files = {
      '/s/includes/f.lua': 'local function f()\n  return 1 +\nend\n',
      '/s/a.lua': '--- @include "includes/f"\nreturn f()\n',
    };
    expect(luaErrors('/s/includes/f.lua', reader(files))).toEqual([
      "/s/includes/f.lua:3: <expression> expected near 'end'",
    ]);
    expect(luaErrors('/s/a.lua', reader(files))).toEqual(["/s/includes/f.lua:3: <expression> expected near 'end'"]);
  });

  it('fails a script whose include is missing, naming the file', () => {
    expect(luaErrors('/s/a.lua', reader({ '/s/a.lua': '--- @include "includes/gone"\nreturn 1\n' }))).toEqual([
      '/s/a.lua:1: included file not found: /s/includes/gone.lua',
    ]);
  });
});
