// Lint step: fails when src/ has an import cycle between folders (or between files).
// Folders are the stages of the pipeline (docs/architecture.md); a cycle between two of
// them means neither can be read, tested or moved on its own. TypeScript's own parser
// lists each file's imports, so type-only imports count too (they couple folders as much).
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import ts from 'typescript';

function listFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return listFiles(path);
    return name.endsWith('.ts') && !name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Relative imports of one file, resolved to files under the root. */
function importsOf(file: string, known: Set<string>): string[] {
  const info = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
  return info.importedFiles
    .map((ref) => ref.fileName)
    .filter((spec) => spec.startsWith('.'))
    .map((spec) => resolve(dirname(file), spec.replace(/\.js$/, '.ts')))
    .filter((path) => known.has(path));
}

/** A file's top-level folder; a file at the root is a node of its own. */
function folderOf(file: string, root: string): string {
  const rel = relative(root, file);
  return rel.includes('/') ? `${rel.split('/')[0]!}/` : rel;
}

/** Strongly connected components with more than one node (Tarjan). */
export function cycles(graph: Map<string, Set<string>>): string[][] {
  let index = 0;
  const indexOf = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const visit = (node: string): void => {
    indexOf.set(node, index);
    low.set(node, index);
    index += 1;
    stack.push(node);
    onStack.add(node);
    for (const next of graph.get(node) ?? []) {
      if (!indexOf.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(node, Math.min(low.get(node)!, indexOf.get(next)!));
      }
    }
    if (low.get(node) === indexOf.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const node of graph.keys()) if (!indexOf.has(node)) visit(node);
  return found;
}

/** Import cycles under `root`, one line (and the imports that close it) per cycle; empty when there are none. */
export function findImportCycles(root: string): string[] {
  const files = listFiles(root);
  const known = new Set(files);
  const fileGraph = new Map<string, Set<string>>();
  const folderGraph = new Map<string, Set<string>>();
  const why = new Map<string, string>();
  for (const file of files) {
    const deps = importsOf(file, known);
    fileGraph.set(file, new Set(deps));
    const from = folderOf(file, root);
    if (!folderGraph.has(from)) folderGraph.set(from, new Set());
    for (const dep of deps) {
      const to = folderOf(dep, root);
      if (to === from) continue;
      folderGraph.get(from)!.add(to);
      if (!why.has(`${from}>${to}`)) why.set(`${from}>${to}`, `${relative(root, file)} imports ${relative(root, dep)}`);
    }
  }
  const problems: string[] = [];
  for (const component of cycles(folderGraph)) {
    const edges = [...why.entries()]
      .filter(([key]) => component.includes(key.split('>')[0]!) && component.includes(key.split('>')[1]!))
      .map(([, line]) => `    ${line}`);
    problems.push(`folder cycle: ${component.join(' <-> ')}\n${edges.join('\n')}`);
  }
  for (const component of cycles(fileGraph)) {
    problems.push(`file cycle: ${component.map((f) => relative(root, f)).join(' <-> ')}`);
  }
  return problems;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = resolve(process.argv[2] ?? 'src');
  const problems = findImportCycles(root);
  if (problems.length > 0) {
    console.error(problems.join('\n'));
    process.exit(1);
  }
  console.log(`no import cycles in ${relative(process.cwd(), root) || '.'} (${listFiles(root).length} files)`);
}
