// Lint step: parses every Lua script under src/ (includes resolved) as Redis' Lua 5.1, so
// a syntax error fails `npm run lint` with its file and line instead of failing the first
// Redis call at run time. Also fails when a TypeScript file under src/ still carries Lua
// (`redis.call(`): scripts live in .lua files, read by src/redis/lua-source.ts.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { readIfExists } from '../src/redis/lua-source.js';
import { luaErrors } from './lua-syntax.js';

const root = resolve(process.argv[2] ?? 'src');

function listFiles(dir: string, ext: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return listFiles(path, ext);
    return name.endsWith(ext) ? [path] : [];
  });
}

const scripts = listFiles(root, '.lua');
// A broken include breaks every script that includes it: say so once.
const errors = [...new Set(scripts.flatMap((file) => luaErrors(file, readIfExists)))];
for (const file of listFiles(root, '.ts')) {
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, index) => {
      if (line.includes('redis.call(')) errors.push(`${file}:${index + 1}: Lua in TypeScript: move it to a .lua file`);
    });
}
for (const error of errors) console.error(error.replaceAll(`${process.cwd()}/`, ''));
if (errors.length > 0) process.exit(1);
console.log(`check-lua: ${scripts.length} Lua files under ${relative(process.cwd(), root) || '.'} parse as Lua 5.1`);
