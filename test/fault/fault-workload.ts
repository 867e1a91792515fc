/** The events of the Target fault tests: loyalty card uses over many visitors of both identity kinds. */
export interface SentEvent {
  id: string;
  type: 'loyalty_card_used';
  occurredAt: string;
  visitor: { mbox3rdPartyId: string } | { mboxPC: string };
  data: { storeId: string; points: number };
}

/** Events over `visitors` visitors (half mboxPC, half third-party ids), several per visitor, shuffled. */
export function workload(visitors: number, perVisitor: number, tag: string): SentEvent[] {
  const events: SentEvent[] = [];
  for (let v = 0; v < visitors; v += 1) {
    const visitor = v % 2 === 0 ? { mbox3rdPartyId: `CRM-${tag}-${v}` } : { mboxPC: `${v}-${tag}.01_00` };
    for (let k = 0; k < perVisitor; k += 1) {
      events.push({
        id: `${tag}-${v}-${k}`,
        type: 'loyalty_card_used',
        occurredAt: new Date(Date.UTC(2026, 10, 21, 10, 0, k * 7 + (v % 5))).toISOString(),
        visitor,
        data: { storeId: `S${v}-${k}`, points: v * 100 + k },
      });
    }
  }
  // Deterministic shuffle so arrival order differs from event order.
  return events
    .map((e, i) => ({ e, key: (i * 7919) % events.length }))
    .sort((a, b) => a.key - b.key)
    .map((x) => x.e);
}
