import { Counter, Registry, collectDefaultMetrics } from 'prom-client';
import type { AcceptSummary } from '../intake/accept.js';

/**
 * The process' Prometheus metrics. Labels stay bounded: source names (from config), stages,
 * error codes, modes and outcomes, never visitor or event ids.
 */
export class Metrics {
  readonly registry = new Registry();

  readonly eventsReceived = new Counter({ name: 'ti_events_received_total', help: 'Events received at intake', labelNames: ['source'] as const, registers: [this.registry] });
  readonly eventsAccepted = new Counter({ name: 'ti_events_accepted_total', help: 'Events stored durably at intake', labelNames: ['source'] as const, registers: [this.registry] });
  readonly eventsDuplicate = new Counter({ name: 'ti_events_duplicate_total', help: 'Events whose id the source had already sent', labelNames: ['source'] as const, registers: [this.registry] });
  readonly eventsRejected = new Counter({ name: 'ti_events_rejected_total', help: 'Events rejected at intake, by field and problem', labelNames: ['source', 'reason'] as const, registers: [this.registry] });
  readonly backpressure = new Counter({ name: 'ti_intake_backpressure_total', help: 'Intake requests refused to protect Redis', labelNames: ['reason'] as const, registers: [this.registry] });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'ti_process_' });
  }

  /** Counts one intake batch. The reason label is the field path only (bounded), not the message. */
  recordIntake(source: string, summary: AcceptSummary): void {
    const total = summary.accepted + summary.duplicates + summary.rejected.length;
    this.eventsReceived.inc({ source }, total);
    if (summary.accepted > 0) this.eventsAccepted.inc({ source }, summary.accepted);
    if (summary.duplicates > 0) this.eventsDuplicate.inc({ source }, summary.duplicates);
    for (const rejected of summary.rejected) {
      this.eventsRejected.inc({ source, reason: rejectionReason(rejected.errors[0] ?? 'unknown') });
    }
  }

  /** Counts one request refused under backpressure (`backlog`, `redis_memory`, ...). */
  recordBackpressure(reason: string): void {
    this.backpressure.inc({ reason });
  }
}

/** `data.amount: expected a number, got "12,50"` → `data.amount`; keeps label values bounded. */
export function rejectionReason(error: string): string {
  const colon = error.indexOf(':');
  const path = colon > 0 ? error.slice(0, colon) : 'event';
  // Unknown data fields could make the label set grow; fold deep paths to their first two parts.
  return path.split('.').slice(0, 2).join('.').slice(0, 64);
}
