// The console's dead-letter view: groups by stage and code from the overview, with Replay
// for ADMIN_TOKEN (POST /admin/dead-letters/replay, a dry run first), and the newest entries
// from GET /admin/dead-letters.
import { card, el, formatNumber, requestJson, searchLink, showNotice, table, timeCell } from './dom.js';

/** Entries listed one by one under the groups (newest first). */
const NEWEST_DEAD_LETTERS = 10;

/** Visitors or events named per dead letter; the rest are counted. */
const NAMED_PER_ENTRY = 3;

async function replay(group, refresh) {
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
export async function loadNewestDeadLetters() {
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

/**
 * Puts the dead letters of overview `o` into `container`; `refresh` reads the overview again
 * after a replay, `visible` says whether to read the newest entries now.
 */
export function renderDeadLetters(container, o, refresh, visible) {
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
      button.addEventListener('click', () => void replay(g, refresh));
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
  container.replaceChildren(summary, newest);
  if (visible) void loadNewestDeadLetters();
}
