import type { CompiledMapping, FieldType } from '../../events/index.js';
import { ImportSetupError } from './records.js';

/**
 * How CSV columns become event envelopes. Columns are named as envelope paths (`id`,
 * `type`, `occurredAt`, `visitor.mbox3rdPartyId`, `data.storeId`, …), or renamed to one
 * with `--map old=new` (`--map old=` ignores a column). Cells are text, so data cells are
 * converted by the type the mapping declares for the event type's field; anything that
 * does not convert is passed on as text and validation says what is wrong with it.
 */

type Target =
  { kind: 'top'; key: 'id' | 'type' | 'occurredAt' } | { kind: 'visitor' | 'data'; key: string } | { kind: 'ignore' };

/** The plan for one CSV file: what each column gives. */
export interface CsvLayout {
  targets: readonly Target[];
}

const TOP = new Set(['id', 'type', 'occurredAt']);
const VISITOR = new Set(['mboxPC', 'mbox3rdPartyId', 'ecid']);
const DATA_FIELD = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;
const BOOLEAN = /^(?:true|false)$/i;
const HINT = 'name it id, type, occurredAt, visitor.mboxPC, visitor.mbox3rdPartyId, visitor.ecid or data.<field>';

/** Parses repeated `--map old=new` options; `old=` means "ignore this column". */
export function parseColumnMap(specs: readonly string[]): Map<string, string> {
  const map = new Map<string, string>();
  const problems: string[] = [];
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq <= 0) problems.push(`--map ${JSON.stringify(spec)}: expected old=new (or old= to ignore the column)`);
    else map.set(spec.slice(0, eq).trim(), spec.slice(eq + 1).trim());
  }
  if (problems.length > 0) throw new ImportSetupError(problems);
  return map;
}

/** Plans the columns of `header`; throws {@link ImportSetupError} listing every problem at once. */
export function planColumns(header: readonly string[], renames: ReadonlyMap<string, string>): CsvLayout {
  const problems: string[] = [];
  const seen = new Map<string, number>();
  const targets = header.map((raw, index): Target => {
    const name = raw.trim();
    const path = renames.get(name) ?? name;
    if (path === '') return { kind: 'ignore' };
    const target = targetOf(path);
    const column = `column ${index + 1} ${JSON.stringify(name.slice(0, 64))}`;
    if (target === undefined) {
      problems.push(
        `${column}${path === name ? '' : ` (mapped to ${JSON.stringify(path.slice(0, 64))})`} is not an event field: ${HINT}, or map it with --map ${name}=data.<field> (--map ${name}= ignores it)`,
      );
      return { kind: 'ignore' };
    }
    const earlier = seen.get(path);
    if (earlier !== undefined) problems.push(`${column} gives ${path} like column ${earlier}`);
    seen.set(path, index + 1);
    return target;
  });
  for (const name of renames.keys()) {
    if (!header.some((h) => h.trim() === name))
      problems.push(`--map ${name}=…: the header has no column ${JSON.stringify(name)}`);
  }
  for (const required of ['id', 'type', 'occurredAt']) {
    if (!seen.has(required)) problems.push(`no column gives ${required}`);
  }
  if (![...VISITOR].some((key) => seen.has(`visitor.${key}`)))
    problems.push('no column gives the visitor (visitor.mbox3rdPartyId or visitor.mboxPC)');
  if (problems.length > 0) throw new ImportSetupError(problems);
  return { targets };
}

function targetOf(path: string): Target | undefined {
  if (TOP.has(path)) return { kind: 'top', key: path as 'id' | 'type' | 'occurredAt' };
  const dot = path.indexOf('.');
  const head = path.slice(0, dot);
  const key = path.slice(dot + 1);
  if (head === 'visitor' && VISITOR.has(key)) return { kind: 'visitor', key };
  if (head === 'data' && DATA_FIELD.test(key)) return { kind: 'data', key };
  return undefined;
}

/**
 * Builds the envelope of one row. Empty cells are left out (absent); `data` cells become
 * numbers or booleans where the mapping declares that type for this event type's field
 * and the text reads as one. Returns an error for a row with the wrong number of cells.
 */
export function rowToEvent(
  layout: CsvLayout,
  cells: readonly string[],
  mapping: CompiledMapping,
): { event: Record<string, unknown> } | { error: string } {
  if (cells.length !== layout.targets.length)
    return { error: `has ${cells.length} cells; the header has ${layout.targets.length}` };
  const event: Record<string, unknown> = {};
  const visitor: Record<string, string> = {};
  const data: Record<string, string> = {};
  layout.targets.forEach((target, i) => {
    const cell = cells[i] ?? '';
    if (cell === '' || target.kind === 'ignore') return;
    if (target.kind === 'top') event[target.key] = cell;
    else if (target.kind === 'visitor') visitor[target.key] = cell;
    else data[target.key] = cell;
  });
  if (Object.keys(visitor).length > 0) event.visitor = visitor;
  if (Object.keys(data).length > 0)
    event.data = convertData(data, typeof event.type === 'string' ? fieldTypes(mapping, event.type) : undefined);
  return { event };
}

function convertData(
  data: Record<string, string>,
  types: ReadonlyMap<string, FieldType> | undefined,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [name, text] of Object.entries(data)) {
    const type = types?.get(name);
    const trimmed = text.trim();
    if (type === 'number' && NUMBER.test(trimmed)) out[name] = Number(trimmed);
    else if (type === 'boolean' && BOOLEAN.test(trimmed)) out[name] = trimmed.toLowerCase() === 'true';
    else out[name] = text;
  }
  return out;
}

const typeCache = new WeakMap<CompiledMapping, Map<string, ReadonlyMap<string, FieldType>>>();

function fieldTypes(mapping: CompiledMapping, type: string): ReadonlyMap<string, FieldType> | undefined {
  let perType = typeCache.get(mapping);
  if (perType === undefined) {
    perType = new Map(
      [...mapping.types].map(([name, compiled]) => [name, new Map(compiled.fields.map((f) => [f.name, f.type]))]),
    );
    typeCache.set(mapping, perType);
  }
  return perType.get(type);
}
