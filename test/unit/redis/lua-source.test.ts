import { describe, expect, it } from 'vitest';
import { resolveLua } from '../../../src/redis/lua-source.js';

function reader(files: Record<string, string>) {
  return (path: string) => files[path];
}

describe('resolveLua', () => {
  it('inlines each included file once, recursively, in place of the first directive naming it', () => {
    const files = {
      '/s/main.lua': 'local a = 1\n--- @include "includes/two"\n-- @include "includes/one"\nreturn a',
      '/s/includes/one.lua': 'local function one() end',
      '/s/includes/two.lua': '--- @include "one"\nlocal function two() end',
    };
    const resolved = resolveLua('/s/main.lua', reader(files));
    expect(resolved.source).toBe('local a = 1\nlocal function one() end\nlocal function two() end\nreturn a');
    expect(resolved.origins).toEqual([
      { file: '/s/main.lua', line: 1 },
      { file: '/s/includes/one.lua', line: 1 },
      { file: '/s/includes/two.lua', line: 2 },
      { file: '/s/main.lua', line: 4 },
    ]);
  });

  it('leaves a script without includes as it is', () => {
    expect(resolveLua('/s/x.lua', reader({ '/s/x.lua': 'return 1\n' })).source).toBe('return 1\n');
  });

  it('names the including file, its line and the missing file', () => {
    const files = { '/s/main.lua': 'local a = 1\n--- @include "includes/gone"' };
    expect(() => resolveLua('/s/main.lua', reader(files))).toThrow(
      '/s/main.lua:2: included file not found: /s/includes/gone.lua',
    );
  });

  it('takes a directive only on a line of its own', () => {
    const source = 'local s = \'--- @include "x"\'';
    expect(resolveLua('/s/x.lua', reader({ '/s/x.lua': source })).source).toBe(source);
  });
});
