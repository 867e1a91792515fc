import type { DeadLetterView } from '../dlq/admin.js';
import { deadLetterSearchNote, type DeliveryView, type EventLineage, type VisitorLineage } from './lineage.js';

/** The visitor and event views as text for `target-ingest trace` (pure; `--json` prints the JSON). */

function delivery(d: DeliveryView): string {
  const batch = d.batchId !== null ? ` batch ${d.batchId}` : '';
  const why = d.detail !== null ? `: ${d.detail}` : '';
  const what = d.attributes.map((a) => `${a.name} (event ${a.eventId}, ${a.occurredAt})`).join(', ');
  return `${d.at}  ${d.route}${batch}  ${d.answer.toUpperCase()}${why}\n    ${what}`;
}

export function visitorText(view: VisitorLineage<DeadLetterView>): string {
  const who = Object.entries(view.visitor)
    .map(([k, v]) => `${k} ${v}`)
    .join('');
  const lines = [`visitor ${who}   sources: ${view.sources.join(', ') || '-'}   due: ${view.dueAt ?? '-'}`, ''];
  lines.push('attributes:');
  for (const a of view.attributes) {
    const part = (label: string, v: { value: string | null; eventId: string; occurredAt: string } | null) =>
      v === null ? '' : `  ${label} ${JSON.stringify(v.value)} (event ${v.eventId}, ${v.occurredAt})`;
    lines.push(
      `  ${a.name}:${part('pending', a.pending)}${part('in flight', a.inFlight)}${part('delivered', a.delivered)}`,
    );
  }
  if (view.inFlight !== null) {
    const c = view.inFlight;
    lines.push(
      '',
      `in flight: claim ${c.claim}, ${c.mode}${c.batchId !== null ? `, batch ${c.batchId}` : ''}, since ${c.since ?? '?'}` +
        (c.heldReason !== null ? `\n  ${c.held ? 'HELD: ' : ''}${c.heldReason}` : ''),
    );
  }
  lines.push('', `deliveries (newest first): ${view.deliveries.length === 0 ? 'none logged' : ''}`);
  for (const d of view.deliveries) lines.push(`  ${delivery(d)}`);
  lines.push('', `dead letters: ${view.deadLetters.length === 0 ? 'none found' : ''}`);
  for (const d of view.deadLetters)
    lines.push(
      `  ${d.id}  ${new Date(d.lastAttemptAt).toISOString()}  ${d.stage}  ${d.error.code}  ${d.error.message}`,
    );
  if (view.deadLettersSearched !== undefined) {
    const [kind, id] = Object.entries(view.visitor)[0] ?? ['', ''];
    lines.push(`  (${deadLetterSearchNote(view.deadLettersSearched, `${kind}:${id}`)})`);
  }
  return `${lines.join('\n')}\n`;
}

export function eventText(view: EventLineage): string {
  const lines = [`event ${view.id} of source ${view.source}`];
  if (view.state === 'queued') {
    lines.push('  accepted by intake; not merged yet (waiting in the ingest queue)');
    return `${lines.join('\n')}\n`;
  }
  lines.push(`  received ${view.receivedAt ?? '?'}, occurred ${view.occurredAt ?? '?'}`);
  lines.push(`  merge: ${view.merge ?? 'merged (no detail kept)'}`);
  if (view.forgotten === true) lines.push('  its visitor was forgotten since (erasure): nothing more is shown');
  if (view.visitor !== null)
    lines.push(
      `  visitor: ${Object.entries(view.visitor)
        .map(([k, v]) => `${k} ${v}`)
        .join('')}`,
    );
  for (const a of view.attributes)
    lines.push(
      `  ${a.name}: ${a.status}${a.replacedBy !== null ? ` (newer: event ${a.replacedBy.eventId}, ${a.replacedBy.occurredAt})` : ''}`,
    );
  if (view.delivery !== null) lines.push(`  delivery: ${delivery(view.delivery)}`);
  lines.push(
    `  landed at Target: ${view.landed === null ? 'not delivered yet' : view.landed ? 'yes (Target accepted the delivery)' : 'no'}`,
  );
  return `${lines.join('\n')}\n`;
}
