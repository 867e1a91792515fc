import { preview, type FormPair } from './form-encoding.js';
import { attributeNameProblem, attributeValueProblem, identityProblem, type IdentityKind } from './identity.js';

/** A single update Target would accept. */
export interface SingleUpdate {
  kind: IdentityKind;
  id: string;
  /** Attribute name without `profile.` → value; empty values already left out. */
  attributes: Map<string, string>;
}

/** The update, or the reason Target answers 400. */
export type SingleUpdateReading = { ok: true; update: SingleUpdate } | { ok: false; message: string };

const IDENTITY_PARAMS: ReadonlyMap<string, IdentityKind> = new Map([
  ['mboxPC', 'pcId'],
  ['mbox3rdPartyId', 'thirdPartyId'],
]);

/**
 * Reads the decoded parameters of a Single Profile Update call (query and form body
 * merged). Names are case sensitive (documented). Written choices where Adobe is silent:
 * - exactly one of `mboxPC` / `mbox3rdPartyId`, non-empty; `mbox3rdPartyId` follows the
 *   documented rules (no `+` or `/`, at most 256 characters);
 * - a parameter name given twice is an error: that is how a value that broke out of its
 *   encoding (a raw `&profile.x=`) shows itself, and Target's pick among duplicates is unknown;
 * - only `profile.<name>` parameters become attributes; other parameters are ignored;
 * - an empty value sets nothing (as in bulk: these APIs never clear a value);
 * - a value over `maxValueLength` characters (default 256) rejects the whole call.
 */
export function readSingleUpdate(pairs: readonly FormPair[], maxValueLength: number): SingleUpdateReading {
  const seen = new Set<string>();
  let identity: { kind: IdentityKind; param: string; id: string } | undefined;
  const attributes = new Map<string, string>();
  for (const { name, value } of pairs) {
    if (seen.has(name)) return { ok: false, message: `parameter "${preview(name)}" is given more than once` };
    seen.add(name);
    const kind = IDENTITY_PARAMS.get(name);
    if (kind !== undefined) {
      if (identity !== undefined) {
        return { ok: false, message: `both ${identity.param} and ${name} given; send exactly one identity` };
      }
      identity = { kind, param: name, id: value };
      continue;
    }
    if (!name.startsWith('profile.')) continue;
    const attribute = name.slice('profile.'.length);
    const problem = attributeNameProblem(attribute) ?? attributeValueProblem(attribute, value, maxValueLength);
    if (problem !== undefined) return { ok: false, message: problem };
    if (value !== '') attributes.set(attribute, value);
  }
  if (identity === undefined) return { ok: false, message: 'missing identity: send mboxPC or mbox3rdPartyId' };
  const idProblem = identityProblem(identity.kind, identity.id);
  if (idProblem !== undefined) return { ok: false, message: `${identity.param}: ${idProblem}` };
  return { ok: true, update: { kind: identity.kind, id: identity.id, attributes } };
}
