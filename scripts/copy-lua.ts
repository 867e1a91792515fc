// Build step: tsc emits only JavaScript, but src/ modules read their Lua scripts from .lua
// files next to them (src/redis/lua-source.ts). This copies every .lua file under src/ to
// the same relative path under dist/src/, so the built modules find them.
import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';

const from = resolve(process.argv[2] ?? 'src');
const to = resolve(process.argv[3] ?? join('dist', relative(process.cwd(), from)));

function luaFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return luaFiles(path);
    return name.endsWith('.lua') ? [path] : [];
  });
}

const files = luaFiles(from);
for (const file of files) {
  const target = join(to, relative(from, file));
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(file, target);
}
console.log(`copied ${files.length} Lua files from ${relative(process.cwd(), from)} to ${relative(process.cwd(), to)}`);
