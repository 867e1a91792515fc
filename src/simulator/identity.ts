import { MAX_NAME_LENGTH, MAX_THIRD_PARTY_ID_LENGTH } from './limits.js';

/** How Target names a visitor: its own visitor id (tntId) or the customer's CRM id. */
export type IdentityKind = 'pcId' | 'thirdPartyId';

/**
 * Length in characters as a person counts them (Unicode code points), so an emoji is one
 * character, not two UTF-16 units. Adobe says "characters" without defining them.
 */
export function characterLength(s: string): number {
  let n = 0;
  for (const _ of s) n += 1;
  return n;
}

/** Why an id cannot name a visitor, or undefined when it can. */
export function identityProblem(kind: IdentityKind, id: string): string | undefined {
  if (id === '') return `${kind} is empty`;
  if (kind === 'pcId') return undefined;
  // Documented: mbox3rdPartyId may not contain + or / and is at most 256 characters.
  if (id.includes('+') || id.includes('/')) return 'thirdPartyId may not contain "+" or "/"';
  if (characterLength(id) > MAX_THIRD_PARTY_ID_LENGTH) {
    return `thirdPartyId is longer than ${MAX_THIRD_PARTY_ID_LENGTH} characters`;
  }
  return undefined;
}

/** Why an attribute name (without `profile.`) is unusable, or undefined when it is fine. */
export function attributeNameProblem(name: string): string | undefined {
  if (name === '') return 'attribute name is empty';
  if (characterLength(name) > MAX_NAME_LENGTH) {
    return `attribute name "${name.slice(0, 40)}…" is longer than ${MAX_NAME_LENGTH} characters`;
  }
  return undefined;
}

/** Why a value is unusable, or undefined when it is fine. */
export function attributeValueProblem(name: string, value: string, maxLength: number): string | undefined {
  const length = characterLength(value);
  if (length > maxLength) {
    return `value of "${name}" is ${length} characters, over the limit of ${maxLength}`;
  }
  return undefined;
}
