import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { findImportCycles } from '../../../scripts/check-cycles.js';

describe('the import-cycle check of npm run lint', () => {
  let root: string | undefined;
  afterEach(() => {
    if (root !== undefined) rmSync(root, { recursive: true, force: true });
    root = undefined;
  });
  const tree = (files: Record<string, string>): string => {
    root = mkdtempSync(join(tmpdir(), 'ti-cycles-'));
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true });
      writeFileSync(join(root, path), text);
    }
    return root;
  };

  it('finds a folder cycle made of type-only imports, and names the imports that close it', () => {
    const dir = tree({
      'flush/flusher.ts': "import type { Budget } from '../quota/budget.js';\nexport const f = 1;\n",
      'quota/budget.ts': "import { f } from '../flush/other.js';\nexport type Budget = number;\n",
      'flush/other.ts': 'export const f = 2;\n',
    });
    const problems = findImportCycles(dir);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('folder cycle: flush/ <-> quota/');
    expect(problems[0]).toContain('flush/flusher.ts imports quota/budget.ts');
    expect(problems[0]).toContain('quota/budget.ts imports flush/other.ts');
  });

  it('finds a cycle between two files of one folder, and between a root file and a folder', () => {
    const dir = tree({
      'a/x.ts': "import { y } from './y.js';\nexport const x = y;\n",
      'a/y.ts': "import { x } from './x.js';\nexport const y = x;\n",
      'pipeline.ts': "import type { D } from './dlq/writer.js';\nexport type P = D;\n",
      'dlq/writer.ts': "import type { P } from '../pipeline.js';\nexport type D = P;\n",
    });
    const problems = findImportCycles(dir).join('\n');
    expect(problems).toContain('file cycle: a/x.ts <-> a/y.ts');
    expect(problems).toContain('folder cycle: dlq/ <-> pipeline.ts');
  });

  it('passes a tree whose folders depend one way, and the project itself', () => {
    const dir = tree({
      'flush/flusher.ts': "import { q } from '../quota/budget.js';\nexport const f = q;\n",
      'quota/budget.ts': "import { k } from '../redis/keys.js';\nexport const q = k;\n",
      'redis/keys.ts': 'export const k = 1;\n',
    });
    expect(findImportCycles(dir)).toEqual([]);
    expect(findImportCycles(join(import.meta.dirname, '../../../src'))).toEqual([]);
  });
});
