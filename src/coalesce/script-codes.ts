/**
 * Return codes of the store's Lua scripts, by name: each table here matches the `local`
 * constants and the `Output:` header of its script in src/coalesce/lua/. Replies are mapped
 * by these names only; a code no table lists is an error, never a guess (it would mean the
 * script and this file disagree, and any outcome picked would be counted wrong).
 */

/**
 * merge-events.lua, one per event. `replayed`: the same batch (job) was already merged;
 * `suppressed`: the visitor was forgotten (src/erasure/forget.ts), the event is dropped.
 */
export const MERGE_CODES = { duplicate: 0, applied: 1, late: 2, superseded: 3, replayed: 4, suppressed: 5 } as const;

/** Outcome of merging one event into the visitor store. */
export type MergeOutcome = keyof typeof MERGE_CODES;

/**
 * Some merge calls of a batch failed (Redis does not roll a script back, but each call is all
 * or nothing for its events, src/coalesce/lua/merge-events.lua). `merged` holds, per event of
 * the batch, the outcome of the calls that did merge, and undefined for the events of those
 * that failed: those were merged, whatever happens to the job, and a retry reports them as
 * `replayed`, so only this attempt can count them. `code` is the first failure's, so failure
 * metrics keep its label.
 */
export class MergeIncompleteError extends Error {
  readonly code: unknown;
  constructor(
    readonly merged: ReadonlyArray<MergeOutcome | undefined>,
    override readonly cause: unknown,
  ) {
    super(cause instanceof Error ? cause.message : String(cause));
    this.name = 'MergeIncompleteError';
    this.code = (cause as { code?: unknown } | undefined)?.code;
  }
}

/** ack-delivered.lua: done (claim released), more (newer values to send), lost (not ours). */
export const ACK_CODES = { lost: 0, done: 1, more: 2 } as const;

/** What an ack found. */
export type AckOutcome = keyof typeof ACK_CODES;

/** renew-lease.lua, one per visitor: moved to the new claim, or held by another claim (or gone). */
export const RENEW_CODES = { kept: 0, switched: 1 } as const;

/** A script returned a code its table does not list (or no code where one was due). */
export class UnknownScriptCodeError extends Error {
  constructor(
    readonly script: string,
    readonly code: unknown,
    known: Readonly<Record<string, number>>,
  ) {
    const codes = Object.entries(known)
      .map(([name, value]) => `${value} ${name}`)
      .join(', ');
    super(
      `Lua script ${script}.lua returned ${code === undefined ? 'no code' : JSON.stringify(code)}, not one of its codes (${codes})`,
    );
    this.name = 'UnknownScriptCodeError';
  }
}

/** The name of `code` in `codes` (the table of script `script`); throws when it has none. */
export function codeName<N extends string>(script: string, codes: Readonly<Record<N, number>>, code: unknown): N {
  for (const [name, value] of Object.entries(codes) as Array<[N, number]>) if (value === code) return name;
  throw new UnknownScriptCodeError(script, code, codes);
}
