// The pipeline console (docs/operations.md, "Pipeline console"): three views over
// GET /admin/api/overview (src/console/overview.ts has its shape), the lineage routes
// (search.js) and dead-letter replay. Plain DOM, no build step.
import {
  card,
  el,
  formatBytes,
  formatNumber,
  formatSeconds,
  formatTime,
  requestJson,
  searchLink,
  table,
  timeCell,
  visitorLink,
} from './dom.js';
import { runSearch } from './search.js';

/** How often the overview is read again while it or the dead letters are on screen. */
const REFRESH_MS = 10_000;

/** Entries listed one by one under the groups (GET /admin/dead-letters, newest first). */
const NEWEST_DEAD_LETTERS = 10;

/** Visitors or events named per dead letter; the rest are counted. */
const NAMED_PER_ENTRY = 3;

const state = { overview: null, view: 'overview', timer: undefined };

function showNotice(text, kind = 'info') {
  const notice = document.getElementById('notice');
  notice.className = `notice ${kind}`;
  notice.textContent = text;
  notice.hidden = text === '';
}

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

function renderOverview(o) {
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

async function replay(group) {
  const filter = { stage: group.stage, code: group.code };
  try {
    const dry = await requestJson('/admin/dead-letters/replay', { filter, dryRun: true });
    const question = `Replay ${dry.matched} dead letters of stage ${group.stage} with code ${group.code}? Their events or values go back into the pipeline.`;
    if (!window.confirm(question)) return;
    const done = await requestJson('/admin/dead-letters/replay', { filter });
    showNotice(`Replayed ${done.done} of ${done.matched} dead letters (${group.stage}, ${group.code}).`, 'ok');
  } catch (error) {
    showNotice(`Replay refused: ${error.message}`, 'bad');
  }
  await refresh();
}

/** A visitor key of a dead letter (`3p:<id>`, `pc:<id>`) as a link to its search. */
function visitorKeyLink(vk) {
  const kind = vk.startsWith('pc:') ? 'mboxPC' : 'mbox3rdPartyId';
  return el('a', { href: searchLink('visitor', kind, vk.slice(3)), class: 'mono' }, vk.slice(3));
}

/** What a dead letter holds: its visitors or its events, the first few named. */
function heldBy(entry) {
  const visitors = entry.visitors ?? [];
  const events = entry.events ?? [];
  const named =
    visitors.length > 0
      ? visitors.slice(0, NAMED_PER_ENTRY).map((v) => visitorKeyLink(v.vk))
      : events
          .slice(0, NAMED_PER_ENTRY)
          .map((e) =>
            typeof e?.id === 'string' && typeof entry.source === 'string'
              ? el('a', { href: searchLink('event', entry.source, e.id), class: 'mono' }, e.id)
              : el('span', { class: 'muted' }, 'event without id'),
          );
  const rest = Math.max(visitors.length, events.length) - named.length;
  const parts = named.flatMap((node) => [node, ' ']);
  if (rest > 0) parts.push(el('span', { class: 'sub' }, `and ${formatNumber(rest)} more`));
  return el('span', {}, parts);
}

/** The newest entries, read when the dead letters are on screen (the JSON is masked by the server). */
async function loadNewestDeadLetters() {
  const target = document.getElementById('dead-letters-newest');
  if (target === null) return;
  try {
    const page = await requestJson(`/admin/dead-letters?limit=${NEWEST_DEAD_LETTERS}`);
    target.replaceChildren(
      page.entries.length === 0
        ? ''
        : card(
            `Newest entries (${formatNumber(page.entries.length)})`,
            table(
              ['last attempt', 'stage', 'code', 'source', 'visitors or events', 'attempts', 'message'],
              page.entries.map((e) => [
                timeCell(new Date(e.lastAttemptAt).toISOString()),
                e.stage,
                el('span', { class: 'mono' }, e.error?.code),
                e.source ?? '–',
                heldBy(e),
                formatNumber(e.attempts),
                el('span', { class: 'message', title: e.error?.message ?? '' }, e.error?.message),
              ]),
              { 'data-dead-letters-newest': '' },
            ),
          ),
    );
  } catch (error) {
    target.replaceChildren(el('p', { class: 'notice-inline' }, `Could not list dead letters: ${error.message}`));
  }
}

function renderDeadLetters(o) {
  const d = o.deadLetters;
  const admin = o.role === 'admin';
  const headers = ['stage', 'code', 'entries', 'events or visitors', 'newest', 'entries as JSON'];
  const rows = d.groups.map((g) => {
    const query = new URLSearchParams({ stage: g.stage, code: g.code });
    const cells = [
      g.stage,
      el('span', { class: 'mono' }, g.code),
      formatNumber(g.entries),
      formatNumber(g.items),
      timeCell(g.newestAt),
      el('a', { href: `/admin/dead-letters?${query.toString()}` }, 'list'),
    ];
    if (admin) {
      const button = el('button', { type: 'button', 'data-replay': `${g.stage}/${g.code}` }, 'Replay');
      button.addEventListener('click', () => void replay(g));
      cells.push(button);
    }
    return cells;
  });
  const summary = card(
    'Dead letters by stage and code',
    el(
      'p',
      {},
      `${formatNumber(d.queued)} in the queue`,
      d.trimmed > 0 ? ` (${formatNumber(d.trimmed)} trimmed by retention)` : '',
      d.queued > d.scanned ? `; groups of the newest ${formatNumber(d.scanned)}` : '',
      '. ',
      admin
        ? 'Replay puts every matching entry back on its path (a dry run counts them first).'
        : 'Replay needs ADMIN_TOKEN; this login is read-only.',
    ),
    d.groups.length === 0
      ? el('p', { class: 'muted' }, 'No dead letters.')
      : table(admin ? [...headers, ''] : headers, rows, { 'data-dead-letter-groups': '' }),
  );
  const newest = document.getElementById('dead-letters-newest') ?? el('div', { id: 'dead-letters-newest' });
  document.getElementById('view-dead-letters').replaceChildren(summary, newest);
  if (state.view === 'dead-letters') void loadNewestDeadLetters();
}

async function refresh() {
  try {
    const o = await requestJson('/admin/api/overview');
    state.overview = o;
    const role = document.getElementById('role');
    role.textContent = o.role === 'admin' ? 'admin' : 'read-only';
    role.className = `badge ${o.role === 'admin' ? 'admin' : ''}`;
    document.getElementById('board').setAttribute('href', o.board);
    document.getElementById('updated').textContent = `updated ${formatTime(o.at)}`;
    renderOverview(o);
    renderDeadLetters(o);
  } catch (error) {
    showNotice(`Could not read the overview: ${error.message}`, 'bad');
  }
}

/** `#search/visitor/<kind>/<id>` or `#search/event/<source>/<id>` → a query; else undefined. */
function queryOf(parts) {
  const [kind, first, second] = parts.map(decodeURIComponent);
  if (kind === 'visitor' && first !== undefined && second !== undefined) return { kind: first, id: second };
  if (kind === 'event' && first !== undefined && second !== undefined)
    return { kind: 'event', source: first, id: second };
  return undefined;
}

function syncForm(query) {
  document.getElementById('search-kind').value = query.kind;
  document.getElementById('search-id').value = query.id;
  document.getElementById('search-source').value = query.source ?? '';
  document.getElementById('search-source-label').hidden = query.kind !== 'event';
}

function route() {
  const [view = 'overview', ...rest] = location.hash.replace(/^#/, '').split('/');
  const known = ['overview', 'search', 'dead-letters'].includes(view) ? view : 'overview';
  state.view = known;
  if (known === 'dead-letters') void loadNewestDeadLetters();
  for (const section of document.querySelectorAll('[data-view]')) section.hidden = section.dataset.view !== known;
  for (const link of document.querySelectorAll('[data-view-link]'))
    link.classList.toggle('active', link.dataset.viewLink === known);
  if (known === 'search') {
    const query = queryOf(rest);
    if (query !== undefined) {
      syncForm(query);
      void runSearch(document.getElementById('search-result'), query);
    }
  }
}

function start() {
  const form = document.getElementById('search-form');
  const kind = document.getElementById('search-kind');
  kind.addEventListener('change', () => {
    document.getElementById('search-source-label').hidden = kind.value !== 'event';
  });
  form.addEventListener('submit', (event) => {
    event.preventDefault();
    const id = document.getElementById('search-id').value.trim();
    const source = document.getElementById('search-source').value.trim();
    if (id === '' || (kind.value === 'event' && source === '')) return;
    const parts = kind.value === 'event' ? ['search', 'event', source, id] : ['search', 'visitor', kind.value, id];
    const hash = `#${parts.map(encodeURIComponent).join('/')}`;
    // The same hash again (a second search for the same id) fires no hashchange.
    if (location.hash === hash) route();
    else location.hash = hash;
  });
  window.addEventListener('hashchange', route);
  route();
  void refresh();
  state.timer = setInterval(() => void refresh(), REFRESH_MS);
}

start();
