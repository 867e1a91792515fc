// The pipeline console (docs/operations.md, "Pipeline console"): three views over
// GET /admin/api/overview (src/console/overview.ts has its shape), the lineage routes
// (search.js) and dead-letter replay (dead-letters-view.js). Plain DOM, no build step.
import { loadNewestDeadLetters, renderDeadLetters } from './dead-letters-view.js';
import { formatTime, requestJson, showNotice } from './dom.js';
import { renderOverview } from './overview-view.js';
import { runSearch } from './search.js';

/** How often the overview is read again while it or the dead letters are on screen. */
const REFRESH_MS = 10_000;

const state = { overview: null, view: 'overview', timer: undefined, failed: false };

async function refresh() {
  try {
    const o = await requestJson('/admin/api/overview');
    state.overview = o;
    // Redis answered again: the failure line goes.
    if (state.failed) showNotice('');
    state.failed = false;
    const role = document.getElementById('role');
    role.textContent = o.role === 'admin' ? 'admin' : 'read-only';
    role.className = `badge ${o.role === 'admin' ? 'admin' : ''}`;
    document.getElementById('board').setAttribute('href', o.board);
    document.getElementById('updated').textContent = `updated ${formatTime(o.at)}`;
    renderOverview(document.getElementById('view-overview'), o);
    renderDeadLetters(document.getElementById('view-dead-letters'), o, refresh, state.view === 'dead-letters');
  } catch (error) {
    state.failed = true;
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
