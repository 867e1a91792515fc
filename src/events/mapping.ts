import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { DEFAULT_MAPPING } from './default-mapping.js';
import { formatIssues } from './issues.js';
import {
  explainUnknownMappingKey,
  MappingSpecSchema,
  type EventMapping,
  type FieldType,
  type MappingSpec,
  type SaltSpec,
} from './mapping-schema.js';

/**
 * Loading and compiling mappings. A mapping is checked once at start and compiled into
 * lookup tables, so validating an event does no schema building and no string parsing of
 * the mapping.
 */

export { DEFAULT_MAPPING } from './default-mapping.js';
export {
  ATTRIBUTE_NAME_MAX,
  ATTRIBUTE_VALUE_MAX,
  AttributeSpecSchema,
  DataFieldSpecSchema,
  EventMappingSchema,
  FIELD_TYPES,
  HASH_ALGORITHMS,
  MappingSpecSchema,
  SaltSpecSchema,
  SHA256_HEX_LENGTH,
  type AttributeSpec,
  type DataFieldSpec,
  type EventMapping,
  type FieldType,
  type MappingSpec,
  type SaltSpec,
} from './mapping-schema.js';

/** A mapping (file or in-code spec) that cannot be used; `problems` holds one line per problem. */
export class MappingFileError extends Error {
  /** Stable code, for callers that classify errors by code rather than by class. */
  readonly code = 'MAPPING_FILE_INVALID';

  constructor(
    /** The file path, or `"mapping"` for a spec built in code. */
    readonly source: string,
    readonly problems: readonly string[],
  ) {
    const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
    super(`${source} is not a valid mapping (${count}):\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'MappingFileError';
  }
}

/** Where an attribute's value comes from, resolved to an index into the type's fields. */
export type AttributeSource =
  | { kind: 'const'; value: string }
  | { kind: 'occurredAt' }
  | { kind: 'id' }
  | { kind: 'type' }
  | { kind: 'data'; field: number }
  /**
   * The SHA-256 of a data field's Target string. `digest` holds the salt in its closure, so
   * the salt is in no property a log or a dump could print; it is undefined in a mapping
   * resolved for validation only (`validationOnly`), which knows no salts.
   */
  | { kind: 'hash'; field: number; digest: ((text: string) => string) | undefined };

/** A data field of one event type, ready for validation. */
export interface CompiledField {
  name: string;
  /** `data.<name>`, the prefix of its error messages. */
  path: string;
  type: FieldType;
  required: boolean;
  /** Validated, never mapped, never quoted in errors, redacted in logs. */
  private: boolean;
  /** Whether any attribute takes its value (only those are length-checked). */
  mapped: boolean;
}

/** One attribute an event type sets. */
export interface CompiledAttribute {
  /** Bare name, without `profile.`. */
  name: string;
  source: AttributeSource;
  /** The path named in this attribute's errors: `data.location`, `occurredAt`, … */
  sourcePath: string;
}

/** One event type, ready for validation. */
export interface CompiledEventType {
  type: string;
  fields: readonly CompiledField[];
  attributes: readonly CompiledAttribute[];
}

/** A checked, merged mapping: the input of {@link validateEvent}. Build it with {@link resolveMapping}. */
export interface CompiledMapping {
  /** The complete table (defaults already merged in; `mode` is `"replace"`). */
  spec: MappingSpec;
  types: ReadonlyMap<string, CompiledEventType>;
  /** Sorted, for error messages. */
  knownTypes: readonly string[];
  /** Every attribute any type can set, sorted (e.g. for bulk file columns). */
  attributeNames: readonly string[];
  /** Names of private data fields of any type, fields sent hashed included. */
  privateFields: ReadonlySet<string>;
  /**
   * Resolved without salts, to validate events (SDK, import): hashed attributes are left out
   * of a valid event's `attributes`. The map worker refuses such a mapping.
   */
  validationOnly: boolean;
}

/** How {@link resolveMapping} finds the salts of hashed attributes. */
export interface ResolveOptions {
  /** Where `"salt": { "env": NAME }` is read; default `process.env`. Empty counts as unset. */
  env?: Readonly<Record<string, string | undefined>>;
  /**
   * Only to validate events (producers: the SDK, `import`): salts are not read, so producers
   * need not hold them, and hashed attributes are not computed.
   */
  validationOnly?: boolean;
}

/**
 * The value a hashed attribute sends: SHA-256 over the UTF-8 bytes of `salt + text` (plain
 * concatenation, salt first, no separator; no salt is the empty string), as 64 lowercase hex
 * digits. `text` is the field's Target string, the value the attribute would send unhashed.
 */
export function hashAttributeValue(text: string, salt = ''): string {
  return createHash('sha256')
    .update(salt + text, 'utf8')
    .digest('hex');
}

/**
 * Checks a spec, merges it with {@link DEFAULT_MAPPING} by its `mode` and compiles it.
 * Without a spec, the defaults. Idempotent on its own output's `spec`.
 * @throws MappingFileError listing every problem of the spec.
 */
export function resolveMapping(spec?: MappingSpec, options: ResolveOptions = {}): CompiledMapping {
  return compileMapping(mergeWithDefaults(spec ?? DEFAULT_MAPPING, 'mapping'), options);
}

/**
 * Reads a mapping file (JSON), checks it and merges it with the defaults per its `mode`.
 * The result is the complete table with `mode: "replace"`, ready for {@link resolveMapping}.
 * @throws MappingFileError with one line per problem, each led by its JSON path.
 */
export function loadMappingFile(path: string): MappingSpec {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new MappingFileError(path, [
      `cannot read the file: ${error instanceof Error ? error.message : String(error)}`,
    ]);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new MappingFileError(path, [`not valid JSON: ${error instanceof Error ? error.message : String(error)}`]);
  }
  return mergeWithDefaults(json, path);
}

/**
 * Names of the private data fields (`cardId`, `agentId`, …) of every event type, for the
 * logger's redaction list: declared private, or sent hashed (`"hash"`).
 */
export function privateDataFields(mapping: MappingSpec | CompiledMapping): Set<string> {
  if ('privateFields' in mapping) return new Set(mapping.privateFields);
  const names = new Set<string>();
  for (const event of Object.values(mapping.events)) {
    for (const name of privateNamesOf(event)) names.add(name);
  }
  return names;
}

function mergeWithDefaults(input: unknown, source: string): MappingSpec {
  const parsed = MappingSpecSchema.safeParse(input);
  if (!parsed.success) {
    throw new MappingFileError(source, formatIssues(parsed.error.issues, 'mapping', explainUnknownMappingKey));
  }
  const spec = parsed.data;
  const events = spec.mode === 'extend' ? { ...DEFAULT_MAPPING.events, ...spec.events } : spec.events;
  return { mode: 'replace', events };
}

function privateNamesOf(event: EventMapping): Set<string> {
  const names = new Set(event.private ?? []);
  for (const [name, field] of Object.entries(event.data ?? {})) {
    if (field.private === true) names.add(name);
  }
  // A hashed field's raw value is as private as a declared one.
  for (const attribute of Object.values(event.attributes)) {
    if (attribute.hash !== undefined && attribute.from?.startsWith('data.') === true)
      names.add(attribute.from.slice('data.'.length));
  }
  return names;
}

/**
 * Where the mapping hashes a field without a salt (`events.<type>.attributes.<name>`): the
 * SHA-256 of an email or a customer id alone can be found again by hashing candidates, so
 * such an attribute pseudonymises weakly, and the visitor's lineage and the console show
 * that hash as its value. Pure.
 */
export function unsaltedHashes(spec: MappingSpec): string[] {
  const out: string[] = [];
  for (const [type, event] of Object.entries(spec.events))
    for (const [name, attribute] of Object.entries(event.attributes))
      if (attribute.hash !== undefined && attribute.salt === undefined) out.push(`events.${type}.attributes.${name}`);
  return out.sort();
}

function compileMapping(spec: MappingSpec, options: ResolveOptions): CompiledMapping {
  const types = new Map<string, CompiledEventType>();
  const attributeNames = new Set<string>();
  const privateFields = new Set<string>();
  const validationOnly = options.validationOnly === true;
  const salts = new SaltReader(validationOnly ? undefined : (options.env ?? process.env));
  for (const [type, event] of Object.entries(spec.events)) {
    const compiled = compileEventType(type, event, salts);
    types.set(type, compiled);
    for (const attribute of compiled.attributes) attributeNames.add(attribute.name);
    for (const field of compiled.fields) if (field.private) privateFields.add(field.name);
  }
  if (salts.problems.length > 0) throw new MappingFileError('mapping', salts.problems);
  return {
    spec,
    types,
    knownTypes: [...types.keys()].sort(),
    attributeNames: [...attributeNames].sort(),
    privateFields,
    validationOnly,
  };
}

/** Reads salts from the environment once each, collecting every missing one. */
class SaltReader {
  readonly problems: string[] = [];

  /** `env` undefined: validation only, no salt is read. */
  constructor(private readonly env: Readonly<Record<string, string | undefined>> | undefined) {}

  /** The digest of one hashed attribute, or undefined (validation only, or a problem noted). */
  digestFor(where: string, salt: SaltSpec | undefined): ((text: string) => string) | undefined {
    if (this.env === undefined) return undefined;
    if (salt === undefined) return (text) => hashAttributeValue(text);
    const value = this.env[salt.env];
    if (value === undefined || value === '') {
      // Names the variable, never a value.
      this.problems.push(
        `${where}.salt.env: the environment variable ${salt.env} is not set (or empty); it holds this attribute's salt`,
      );
      return undefined;
    }
    return (text) => hashAttributeValue(text, value);
  }
}

function compileEventType(type: string, event: EventMapping, salts: SaltReader): CompiledEventType {
  const privateNames = privateNamesOf(event);
  // Fields whose raw value is sent (and so length-checked); a hashed one sends 64 hex digits.
  const mappedNames = new Set(
    Object.values(event.attributes).flatMap((a) =>
      a.from?.startsWith('data.') === true && a.hash === undefined ? [a.from.slice(5)] : [],
    ),
  );
  const fields: CompiledField[] = Object.entries(event.data ?? {}).map(([name, field]) => ({
    name,
    path: `data.${name}`,
    type: field.type,
    required: field.required === true,
    private: privateNames.has(name),
    mapped: mappedNames.has(name),
  }));
  const fieldIndex = new Map(fields.map((field, index) => [field.name, index]));
  const attributes = Object.entries(event.attributes).map(([name, spec]): CompiledAttribute => {
    if (spec.const !== undefined) {
      return {
        name,
        source: { kind: 'const', value: spec.const },
        sourcePath: `mapping ${type}.attributes.${name}.const`,
      };
    }
    const from = spec.from ?? '';
    if (from === 'occurredAt' || from === 'id' || from === 'type')
      return { name, source: { kind: from }, sourcePath: from };
    const field = fieldIndex.get(from.slice('data.'.length));
    // MappingSpecSchema has already refused any other reference; this guards direct callers.
    if (field === undefined)
      throw new MappingFileError('mapping', [`${type}.attributes.${name}: cannot resolve ${from}`]);
    if (spec.hash !== undefined) {
      const digest = salts.digestFor(`events.${type}.attributes.${name}`, spec.salt);
      return { name, source: { kind: 'hash', field, digest }, sourcePath: from };
    }
    return { name, source: { kind: 'data', field }, sourcePath: from };
  });
  return { type, fields, attributes };
}
