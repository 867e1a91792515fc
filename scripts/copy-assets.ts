// Build step: tsc emits only JavaScript, but some src/ modules read files next to them at run
// time: Lua scripts (src/redis/lua-source.ts) and the console page (src/console/page/, served
// by src/console/routes.ts). This copies every such file under src/ to the same relative path
// under dist/src/, so the built modules find them.
import { copyFileSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const from = resolve(process.argv[2] ?? 'src');
const to = resolve(process.argv[3] ?? join('dist', relative(process.cwd(), from)));

/** `.lua` anywhere; every file of a `page/` folder (HTML, CSS and browser JavaScript, served as they are). */
function isAsset(path: string): boolean {
  return path.endsWith('.lua') || relative(from, path).split(sep).slice(0, -1).includes('page');
}

function assets(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return assets(path);
    return isAsset(path) ? [path] : [];
  });
}

const files = assets(from);
for (const file of files) {
  const target = join(to, relative(from, file));
  mkdirSync(dirname(target), { recursive: true });
  copyFileSync(file, target);
}
console.log(
  `copied ${files.length} files (Lua, console page) from ${relative(process.cwd(), from)} to ${relative(process.cwd(), to)}`,
);
