/**
 * For tests and bench runs that compare Target with an exact oracle. The simulator loses
 * Adobe's documented "up to 0.1%" of bulk rows by default (src/simulator/limits.ts); finding
 * and repairing them is the landing audit's job, tested in
 * test/integration/deliver/landing-audit.test.ts and test/integration/simulator/lost-rows.test.ts.
 * Elsewhere a random lost row would make an exact comparison fail now and then, so these
 * runs ask for none.
 */
export const NO_ROW_LOSS = { bulkRowLoss: 0 } as const;
