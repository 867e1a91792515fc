// The console's search: a visitor or an event through the lineage routes
// (GET /admin/visitors/<kind>/<id>, GET /admin/events/<source>/<id>; shapes in
// src/lineage/lineage.ts). What they answer is already masked by the redaction policy.
import { card, el, formatNumber, formatTime, requestJson, table, timeCell, visitorLink } from './dom.js';

/** A value with the event it came from, or a dash. */
function held(value) {
  if (value === null || value === undefined) return el('span', { class: 'muted' }, '–');
  return el(
    'span',
    {},
    el('span', { class: 'value' }, value.value ?? '(not kept)'),
    el('span', { class: 'sub' }, `event ${value.eventId} · ${formatTime(value.occurredAt)}`),
  );
}

function answerBadge(answer) {
  return el('span', { class: `badge ${answer === 'accepted' ? 'ok' : 'bad'}`, 'data-answer': answer }, answer);
}

function claimCard(claim) {
  if (claim === null) return card('In flight', el('p', { class: 'muted' }, 'Nothing in flight for this visitor.'));
  return card(
    'In flight',
    table(
      ['claim', 'route', 'Target batch', 'since', 'state'],
      [
        [
          el('span', { class: 'mono' }, claim.claim),
          claim.mode,
          claim.batchId ?? '–',
          formatTime(claim.since),
          claim.held ? el('span', { class: 'badge warn' }, 'held') : el('span', { class: 'badge ok' }, 'moving'),
        ],
      ],
    ),
    claim.heldReason === null ? null : el('p', { class: 'sub' }, claim.heldReason),
  );
}

function deliveriesCard(deliveries) {
  if (deliveries.length === 0) return card('Deliveries', el('p', { class: 'muted' }, 'No delivery logged yet.'));
  return card(
    'Deliveries',
    table(
      ['when', 'route', 'Target batch', "Target's answer", 'rows failed', 'events sent'],
      deliveries.map((d) => [
        timeCell(d.at),
        el('span', { 'data-route': d.route }, d.route),
        d.batchId ?? '–',
        el('span', {}, answerBadge(d.answer), d.detail === null ? null : el('span', { class: 'sub' }, d.detail)),
        formatNumber(d.rowsFailed),
        d.attributes.map((a) => el('span', { class: 'sub' }, `${a.name} ← ${a.eventId}`)),
      ]),
      { class: 'deliveries' },
    ),
  );
}

function deadLettersCard(entries, searched, visitor) {
  if (entries.length === 0 && searched === undefined) return null;
  // The search stops after the newest 2,000 entries: say so, or "none" would read as certain,
  // with the command that goes on where it stopped, ready to copy.
  const partial =
    searched === undefined
      ? null
      : el(
          'p',
          { class: 'note', 'data-dead-letters-searched': true },
          `Only the newest ${formatNumber(searched.scanned)} of ${formatNumber(searched.queued)} dead letters were searched; older ones of this visitor may exist: `,
          el('span', { class: 'mono' }, `target-ingest dlq list --visitor ${visitor} --cursor ${searched.next}`),
          ' goes on from there.',
        );
  return card(
    'Dead letters',
    partial,
    entries.length === 0
      ? null
      : table(
          ['last attempt', 'stage', 'code', 'message'],
          entries.map((e) => [
            formatTime(new Date(e.lastAttemptAt).toISOString()),
            e.stage,
            e.error?.code,
            e.error?.message,
          ]),
        ),
  );
}

export function visitorView(view) {
  const [kind, id] = Object.entries(view.visitor)[0] ?? ['', ''];
  return el(
    'div',
    { class: 'result', 'data-result': 'visitor' },
    el(
      'div',
      { class: 'result-head' },
      el('h2', {}, `${kind} `, el('span', { class: 'mono' }, id)),
      view.sources.length === 0
        ? null
        : el('span', { class: 'sub' }, `values pending from: ${view.sources.join(', ')}`),
      view.dueAt === null ? null : el('span', { class: 'sub' }, `pending values due ${formatTime(view.dueAt)}`),
    ),
    card(
      'Attributes',
      table(
        ['attribute', 'pending', 'in flight', 'delivered (what Target last accepted)'],
        view.attributes.map((a) => [
          el('span', { class: 'mono' }, a.name),
          held(a.pending),
          held(a.inFlight),
          held(a.delivered),
        ]),
      ),
    ),
    claimCard(view.inFlight),
    deliveriesCard(view.deliveries),
    deadLettersCard(view.deadLetters, view.deadLettersSearched, `${kind}:${id}`),
  );
}

export function eventView(view) {
  const delivery = view.delivery;
  return el(
    'div',
    { class: 'result', 'data-result': 'event' },
    el(
      'div',
      { class: 'result-head' },
      el('h2', {}, `event `, el('span', { class: 'mono' }, view.id), ` of ${view.source}`),
      el('span', { class: 'badge' }, view.state),
      view.merge === null ? null : el('span', { class: 'badge' }, view.merge),
    ),
    card(
      'Taken in',
      table(
        ['received', 'occurred', 'visitor'],
        [
          [
            formatTime(view.receivedAt),
            formatTime(view.occurredAt),
            view.forgotten ? 'forgotten' : visitorLink(view.visitor),
          ],
        ],
      ),
    ),
    view.attributes.length === 0
      ? null
      : card(
          'Its values',
          table(
            ['attribute', 'status', 'replaced by'],
            view.attributes.map((a) => [
              el('span', { class: 'mono' }, a.name),
              a.status,
              a.replacedBy === null ? '–' : `${a.replacedBy.eventId} (${formatTime(a.replacedBy.occurredAt)})`,
            ]),
          ),
        ),
    card(
      'Delivery',
      delivery === null
        ? el('p', { class: 'muted' }, 'Not delivered yet.')
        : table(
            ['when', 'route', 'Target batch', "Target's answer", 'landed'],
            [
              [
                timeCell(delivery.at),
                delivery.route,
                delivery.batchId ?? '–',
                answerBadge(delivery.answer),
                view.landed ? 'yes' : 'no',
              ],
            ],
          ),
    ),
  );
}

/** Runs one search and puts its result (or why there is none) into `target`. */
export async function runSearch(target, query) {
  target.replaceChildren(el('p', { class: 'muted' }, 'Searching…'));
  const path =
    query.kind === 'event'
      ? `/admin/events/${encodeURIComponent(query.source)}/${encodeURIComponent(query.id)}`
      : `/admin/visitors/${encodeURIComponent(query.kind)}/${encodeURIComponent(query.id)}`;
  try {
    const view = await requestJson(path);
    target.replaceChildren(query.kind === 'event' ? eventView(view) : visitorView(view));
  } catch (error) {
    target.replaceChildren(
      el('p', { class: 'notice-inline', 'data-error': String(error.status ?? '') }, error.message),
    );
  }
}
