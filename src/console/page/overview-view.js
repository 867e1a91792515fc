// The console's overview view: the flow and the cards under it, from GET /admin/api/overview
// (src/console/overview.ts has its shape).
import { card, el, formatBytes, formatNumber, formatSeconds, formatTime, table, timeCell, visitorLink } from './dom.js';

function flowStrip(flow, rateMinutes) {
  const steps = [];
  for (const [i, stage] of flow.entries()) {
    if (i > 0) steps.push(el('div', { class: 'arrow', 'aria-hidden': 'true' }, '→'));
    steps.push(
      el(
        'div',
        { class: `stage ${stage.kind}`, 'data-flow': stage.name },
        el('div', { class: 'stage-label' }, stage.label),
        el('div', { class: 'count' }, formatNumber(stage.count)),
        el('div', { class: 'sub' }, stage.unit),
        el('div', { class: 'rate' }, stage.perMinute === null ? 'now' : `${formatNumber(stage.perMinute)} / min`),
      ),
    );
  }
  return el(
    'div',
    { class: 'flow-wrap' },
    el('div', { class: 'flow' }, steps),
    el(
      'p',
      { class: 'sub' },
      `Totals since the pipeline's Redis prefix was created; rates over the last ${rateMinutes} minutes. Pending and in flight are visitors now.`,
    ),
  );
}

function targetCard(target) {
  const creds = target.access;
  const bulk = target.bulk;
  return card(
    'Target',
    el(
      'p',
      { 'data-access': creds.state },
      'Credentials: ',
      creds.state === 'ok'
        ? el('span', { class: 'badge ok' }, 'accepted')
        : el('span', { class: 'badge bad' }, `held: HTTP ${creds.status} for ${formatSeconds(creds.heldSeconds)}`),
      creds.state === 'ok'
        ? null
        : el(
            'span',
            { class: 'sub' },
            `since ${formatTime(creds.since)}, ${creds.probes} probes; every delivery waits`,
          ),
    ),
    el(
      'p',
      {},
      `Bulk claims at Target: ${formatNumber(bulk.claims)}`,
      bulk.oldestAgeSeconds === null ? null : ` · oldest ${formatSeconds(bulk.oldestAgeSeconds)}`,
      ` · status polls: ${formatNumber(bulk.statusPolls.total)} (${formatNumber(bulk.statusPolls.perMinute)} / min)`,
    ),
    bulk.shown.length === 0
      ? null
      : table(
          ['claim', 'state', 'submitted', 'age', 'last poll', 'poll rounds'],
          bulk.shown.map((c) => [
            el('span', { class: 'mono' }, c.claimId),
            c.state,
            timeCell(c.since),
            formatSeconds(c.ageSeconds),
            timeCell(c.lastPollAt),
            formatNumber(c.pollRounds),
          ]),
        ),
  );
}

function budgetsCard(budgets, shared) {
  return card(
    'Budgets',
    table(
      ['budget', 'used', 'limit', 'window', 'remaining', 'recent calls', 'paused'],
      budgets.map((b) => [
        b.name,
        formatNumber(b.used),
        formatNumber(b.limit),
        formatSeconds(b.windowSeconds),
        formatNumber(b.remaining),
        formatNumber(b.recentCalls),
        b.pausedSeconds > 0 ? el('span', { class: 'badge warn' }, formatSeconds(b.pausedSeconds)) : 'no',
      ]),
    ),
    el(
      'p',
      { 'data-shared-limit': shared.paused ? 'paused' : 'ok' },
      "Target's limit shared with the account's other API users: ",
      shared.paused
        ? el('span', { class: 'badge warn' }, `bulk paused for ${formatSeconds(shared.pausedSeconds)} after a 503`)
        : el('span', { class: 'badge ok' }, 'not hit'),
    ),
  );
}

function oldestCard(oldest) {
  if (oldest === null) return card('Oldest pending visitor', el('p', { class: 'muted' }, 'Nothing pending.'));
  return card(
    'Oldest pending visitor',
    el('p', { 'data-oldest': '' }, visitorLink(oldest.visitor)),
    table(
      ['due', 'overdue by', 'received', 'waiting'],
      [
        [
          timeCell(oldest.dueAt),
          oldest.overdueSeconds > 0 ? el('span', { class: 'badge warn' }, formatSeconds(oldest.overdueSeconds)) : '–',
          timeCell(oldest.receivedAt),
          formatSeconds(oldest.waitingSeconds),
        ],
      ],
    ),
  );
}

function sourcesCard(sources) {
  if (sources.length === 0) return card('Sources', el('p', { class: 'muted' }, 'No event received over HTTP yet.'));
  return card(
    'Sources',
    table(
      ['source', 'last event accepted', 'silent for'],
      sources.map((s) => [s.source, timeCell(s.lastEventAt), formatSeconds(s.silentSeconds)]),
      { 'data-sources': '' },
    ),
  );
}

function queuesCard(queues, redis) {
  const states = ['waiting', 'active', 'delayed', 'failed', 'completed'];
  return card(
    'Queues',
    table(
      ['queue', ...states],
      queues.map((q) => [q.name, ...states.map((s) => formatNumber(q.counts[s] ?? 0))]),
    ),
    el(
      'p',
      { class: 'sub' },
      `Redis memory: ${formatBytes(redis.usedBytes)} used`,
      redis.maxBytes ? ` of ${formatBytes(redis.maxBytes)}` : '',
    ),
  );
}

/** Puts the overview `o` into `container`. */
export function renderOverview(container, o) {
  const merge = Object.entries(o.merge)
    .map(([k, n]) => `${k.replace('_', ' ')} ${formatNumber(n)}`)
    .join(' · ');
  document
    .getElementById('view-overview')
    .replaceChildren(
      flowStrip(o.flow, o.rateMinutes),
      el('p', { class: 'sub merge' }, `Merge outcomes: ${merge === '' ? 'none yet' : merge}`),
      el(
        'div',
        { class: 'grid' },
        targetCard(o.target),
        budgetsCard(o.budgets, o.sharedLimit),
        oldestCard(o.oldestPending),
        sourcesCard(o.sources),
        queuesCard(o.queues, o.redis),
      ),
    );
}
