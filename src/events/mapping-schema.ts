import { z } from 'zod';
import { EventTypeSchema } from './envelope.js';
import { expecting } from './issues.js';
import { quote } from './values.js';

/**
 * The declarative mapping format: which data fields each event type takes, and which Target
 * profile attributes it sets. The built-in table (default-mapping.ts) and operators'
 * mapping files use this one format, so both are checked by the same rules.
 */

/** Longest attribute value Target accepts for in-page profile attributes (documented). */
export const ATTRIBUTE_VALUE_MAX = 256;
/** Longest attribute name Target accepts (documented). */
export const ATTRIBUTE_NAME_MAX = 128;

/** Field types and the strings they become: timestamps ISO-8601 UTC, numbers plain decimals. */
export const FIELD_TYPES = ['string', 'number', 'boolean', 'timestamp'] as const;
export type FieldType = (typeof FIELD_TYPES)[number];

// Field names appear in `from: "data.<name>"`, so they cannot contain dots.
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_]{0,63}$/;
const ATTRIBUTE_NAME = /^[A-Za-z0-9_.-]+$/;
const FROM = /^(?:occurredAt|id|type|data\.[A-Za-z][A-Za-z0-9_]*)$/;

const FieldNameSchema = z.string({ error: expecting('a field name') }).superRefine((name, ctx) => {
  if (!FIELD_NAME.test(name)) {
    ctx.addIssue({
      code: 'custom',
      message: `data field names must start with a letter and use only A-Z, a-z, 0-9 and "_" (at most 64), got ${quote(name)}`,
    });
  }
});

const AttributeNameSchema = z.string().superRefine((name, ctx) => {
  if (name.length === 0 || name.length > ATTRIBUTE_NAME_MAX || !ATTRIBUTE_NAME.test(name)) {
    ctx.addIssue({
      code: 'custom',
      message: `attribute names must be 1 to ${ATTRIBUTE_NAME_MAX} characters from A-Z, a-z, 0-9, "_", "." and "-", got ${quote(name)}`,
    });
  } else if (name.startsWith('profile.')) {
    ctx.addIssue({
      code: 'custom',
      message: 'attribute names must not start with "profile." (it is added when sending)',
    });
  } else if (name === '__proto__') {
    // Would replace the prototype of the attributes object instead of adding a key.
    ctx.addIssue({ code: 'custom', message: '"__proto__" is reserved' });
  }
});

const flag = z.boolean({ error: expecting('true or false') }).optional();

/** One data field an event type accepts. */
export const DataFieldSpecSchema = z.strictObject(
  {
    type: z.enum(FIELD_TYPES, { error: expecting('"string", "number", "boolean" or "timestamp"') }),
    /** Default false: an absent or null optional field sets nothing. */
    required: flag,
    /** Default false. Private fields are validated but never mapped, and redacted in logs. */
    private: flag,
  },
  { error: expecting('an object such as { "type": "string" }') },
);
export type DataFieldSpec = z.infer<typeof DataFieldSpecSchema>;

/** The only hash a mapping offers: SHA-256, sent as 64 lowercase hex digits. */
export const HASH_ALGORITHMS = ['sha256'] as const;
/** Length of a hashed attribute's value: SHA-256 in hex. */
export const SHA256_HEX_LENGTH = 64;

// An environment variable name, as POSIX shells accept it.
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,127}$/;

/**
 * Where a hashed attribute's salt comes from: an environment variable of the process, named
 * here, so the salt itself never sits in the mapping file.
 */
// What is written here may be a salt put in by mistake: its errors never quote it.
const SALT_ENV_NAME_EXPECTED =
  'expected the name of an environment variable (A-Z, a-z, 0-9 and "_", not starting with a digit); the salt itself never goes in the mapping file';
export const SaltSpecSchema = z.strictObject(
  {
    env: z.string({ error: SALT_ENV_NAME_EXPECTED }).superRefine((name, ctx) => {
      if (!ENV_NAME.test(name)) ctx.addIssue({ code: 'custom', message: SALT_ENV_NAME_EXPECTED });
    }),
  },
  {
    error:
      'expected an object such as { "env": "MAPPING_SALT" }, naming the environment variable that holds the salt; the salt itself never goes in the mapping file',
  },
);
export type SaltSpec = z.infer<typeof SaltSpecSchema>;

/** Where one attribute's value comes from: a field of the event, or a constant. */
export const AttributeSpecSchema = z
  .strictObject(
    {
      /** `occurredAt`, `id`, `type` or `data.<field>`. */
      from: z.string({ error: expecting('a string') }).optional(),
      const: z.string({ error: expecting('a string') }).optional(),
      /** Send the SHA-256 (hex) of the field instead of its value; the field becomes private. */
      hash: z.enum(HASH_ALGORITHMS, { error: expecting('"sha256"') }).optional(),
      /** With `hash`: prepend the salt read from this environment variable before hashing. */
      salt: SaltSpecSchema.optional(),
    },
    { error: expecting('an object such as { "from": "data.kioskId" } or { "const": "funded" }') },
  )
  .superRefine((attribute, ctx) => {
    if (attribute.hash !== undefined && attribute.from?.startsWith('data.') !== true) {
      ctx.addIssue({
        code: 'custom',
        path: ['hash'],
        message:
          attribute.from === undefined
            ? 'hashes a data field: needs "from": "data.<field>", not a constant'
            : `hashes a data field: needs "from": "data.<field>", got ${quote(attribute.from)}`,
      });
    }
    if (attribute.salt !== undefined && attribute.hash === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['salt'],
        message: 'a salt needs "hash": "sha256" (it is only used to hash the value)',
      });
    }
    if (attribute.from !== undefined && attribute.const !== undefined) {
      ctx.addIssue({ code: 'custom', message: 'set either "from" or "const", not both' });
    } else if (attribute.from === undefined && attribute.const === undefined) {
      ctx.addIssue({ code: 'custom', message: 'needs "from" (occurredAt, id, type or data.<field>) or "const"' });
    }
    if (attribute.from !== undefined && !FROM.test(attribute.from)) {
      ctx.addIssue({
        code: 'custom',
        path: ['from'],
        message: `expected occurredAt, id, type or data.<field>, got ${quote(attribute.from)}`,
      });
    }
    if (attribute.const !== undefined && attribute.const.length > ATTRIBUTE_VALUE_MAX) {
      ctx.addIssue({
        code: 'custom',
        path: ['const'],
        message: `is ${attribute.const.length} characters; Target accepts at most ${ATTRIBUTE_VALUE_MAX}`,
      });
    }
  });
export type AttributeSpec = z.infer<typeof AttributeSpecSchema>;

/** One event type: its data fields, the attributes it sets, and extra private field names. */
export const EventMappingSchema = z
  .strictObject(
    {
      data: z.record(FieldNameSchema, DataFieldSpecSchema, { error: expecting('an object of fields') }).optional(),
      attributes: z.record(AttributeNameSchema, AttributeSpecSchema, { error: expecting('an object of attributes') }),
      /** Same effect as `"private": true` on each named field. */
      private: z.array(FieldNameSchema, { error: expecting('a list of data field names') }).optional(),
    },
    { error: expecting('an object with "data" and "attributes"') },
  )
  .superRefine((event, ctx) => {
    const fields = event.data ?? {};
    const declared = Object.keys(fields);
    const privateFields = new Set(declared.filter((name) => fields[name]?.private === true));
    (event.private ?? []).forEach((name, index) => {
      if (!Object.hasOwn(fields, name)) {
        ctx.addIssue({ code: 'custom', path: ['private', index], message: `${name} is not declared in data` });
      }
      privateFields.add(name);
    });
    const attributes = Object.entries(event.attributes);
    if (attributes.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['attributes'], message: 'must set at least one attribute' });
    }
    // A field sent hashed is private: its raw value may not go out through another attribute.
    const hashedBy = new Map<string, string>();
    for (const [name, attribute] of attributes) {
      if (attribute.hash !== undefined && attribute.from?.startsWith('data.') === true) {
        const field = attribute.from.slice('data.'.length);
        if (!hashedBy.has(field)) hashedBy.set(field, name);
      }
    }
    for (const [name, attribute] of attributes) {
      if (attribute.from?.startsWith('data.') !== true) continue;
      const field = attribute.from.slice('data.'.length);
      const path = ['attributes', name, 'from'];
      const hashedElsewhere = hashedBy.get(field);
      if (!Object.hasOwn(fields, field)) {
        const known = declared.length === 0 ? 'none' : declared.join(', ');
        ctx.addIssue({
          code: 'custom',
          path,
          message: `refers to data.${field}, which the event's data does not declare (declared: ${known})`,
        });
      } else if (attribute.hash !== undefined) {
        // Hashing is how a private field may be sent: only its digest leaves.
      } else if (hashedElsewhere !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `refers to data.${field}, which attribute ${hashedElsewhere} sends hashed; its raw value is private and never sent to Target (add "hash" here too)`,
        });
      } else if (privateFields.has(field)) {
        ctx.addIssue({
          code: 'custom',
          path,
          message: `refers to data.${field}, which is private and never sent to Target`,
        });
      }
    }
  });
export type EventMapping = z.infer<typeof EventMappingSchema>;

/**
 * A mapping file. `mode: "extend"` adds event types to the built-in table or replaces
 * single types in it; `"replace"` uses only the file's types.
 */
export const MappingSpecSchema = z
  .strictObject(
    {
      mode: z.enum(['extend', 'replace'], { error: expecting('"extend" or "replace"') }),
      events: z.record(EventTypeSchema, EventMappingSchema, { error: expecting('an object of event types') }),
    },
    { error: expecting('a JSON object with "mode" and "events"') },
  )
  .superRefine((spec, ctx) => {
    if (spec.mode === 'replace' && Object.keys(spec.events).length === 0) {
      ctx.addIssue({ code: 'custom', path: ['events'], message: 'mode "replace" needs at least one event type' });
    }
  });
export type MappingSpec = z.infer<typeof MappingSpecSchema>;

/** Why a key is refused in a mapping file. */
export function explainUnknownMappingKey(parent: readonly PropertyKey[], _key: string): string {
  switch (parent.length) {
    case 0:
      return 'unknown field; a mapping file has only "mode" and "events"';
    case 2:
      return 'unknown field; an event type has only "data", "attributes" and "private"';
    case 4:
      return parent[2] === 'data'
        ? 'unknown field; a data field has only "type", "required" and "private"'
        : 'unknown field; an attribute has only "from" or "const", and "hash" and "salt"';
    case 5:
      return 'unknown field; a salt has only "env", the environment variable that holds it';
    default:
      return 'unknown field';
  }
}
