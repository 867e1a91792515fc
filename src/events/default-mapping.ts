import type { MappingSpec } from './mapping-schema.js';

/**
 * The built-in table: the four offline actions Adobe names (docs/producers.md, "The default mapping").
 * `cardId` and `agentId` are private: accepted and type-checked, never sent to Target,
 * never logged, never quoted in an error.
 */
export const DEFAULT_MAPPING: MappingSpec = deepFreeze({
  mode: 'replace',
  events: {
    kiosk_visit: {
      data: {
        kioskId: { type: 'string', required: true },
        location: { type: 'string' },
      },
      attributes: {
        kioskLastVisitAt: { from: 'occurredAt' },
        kioskLastId: { from: 'data.kioskId' },
        kioskLastLocation: { from: 'data.location' },
      },
    },
    loan_funded: {
      data: {
        loanId: { type: 'string', required: true },
        amount: { type: 'number', required: true },
        currency: { type: 'string' },
        product: { type: 'string' },
      },
      attributes: {
        loanStatus: { const: 'funded' },
        loanLastFundedAt: { from: 'occurredAt' },
        loanLastAmount: { from: 'data.amount' },
        loanLastCurrency: { from: 'data.currency' },
        loanLastProduct: { from: 'data.product' },
      },
    },
    loyalty_card_used: {
      data: {
        storeId: { type: 'string', required: true },
        points: { type: 'number' },
        tier: { type: 'string' },
        cardId: { type: 'string', private: true },
      },
      attributes: {
        loyaltyLastUsedAt: { from: 'occurredAt' },
        loyaltyLastStoreId: { from: 'data.storeId' },
        loyaltyLastPoints: { from: 'data.points' },
        loyaltyTier: { from: 'data.tier' },
      },
    },
    call_centre_contact: {
      data: {
        reason: { type: 'string', required: true },
        outcome: { type: 'string' },
        agentId: { type: 'string', private: true },
      },
      attributes: {
        callCentreLastContactAt: { from: 'occurredAt' },
        callCentreLastReason: { from: 'data.reason' },
        callCentreLastOutcome: { from: 'data.outcome' },
      },
    },
  },
});

// The table is shared by every caller; freezing it turns an accidental edit into an error
// instead of a silent change of what every later event maps to.
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}
