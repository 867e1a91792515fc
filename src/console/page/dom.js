// Helpers of the console page (src/console/routes.ts serves it). Every value shown goes in
// as text (Text nodes, textContent): nothing from the server is ever parsed as HTML.

/**
 * An element with attributes and children. Strings and numbers become Text nodes; null and
 * undefined children are skipped. `class`, `href`, `title` and `data-*` become attributes.
 */
export function el(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === null || value === false) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A table with a header row; `rows` are arrays of cells (strings, numbers or nodes). */
export function table(headers, rows, attributes = {}) {
  return el(
    'table',
    attributes,
    el(
      'thead',
      {},
      el(
        'tr',
        {},
        headers.map((h) => el('th', {}, h)),
      ),
    ),
    el(
      'tbody',
      {},
      rows.map((cells) =>
        el(
          'tr',
          {},
          cells.map((cell) => el('td', {}, cell)),
        ),
      ),
    ),
  );
}

/** A titled card. */
export function card(title, ...children) {
  return el('div', { class: 'card' }, el('h2', {}, title), ...children);
}

export function formatNumber(n) {
  return typeof n === 'number' ? n.toLocaleString('en-US') : '–';
}

/** `2026-11-20 12:00:05 UTC`, or a dash. */
export function formatTime(iso) {
  if (typeof iso !== 'string' || iso === '') return '–';
  const date = new Date(iso);
  if (Number.isNaN(date.getTime())) return iso;
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

/** A time that does not wrap inside a table cell. */
export function timeCell(iso) {
  return el('span', { class: 'nowrap' }, formatTime(iso));
}

/** `45 s`, `12 min 5 s`, `3 h 20 min`, `2 d 4 h`; a unit that is 0 is left out (`24 h`, `1 min`). */
export function formatSeconds(total) {
  if (typeof total !== 'number') return '–';
  const s = Math.max(0, Math.round(total));
  const two = (big, bigUnit, small, smallUnit) =>
    small === 0 ? `${big} ${bigUnit}` : `${big} ${bigUnit} ${small} ${smallUnit}`;
  if (s < 60) return `${s} s`;
  if (s < 3600) return two(Math.floor(s / 60), 'min', s % 60, 's');
  if (s < 2 * 86400) return two(Math.floor(s / 3600), 'h', Math.floor((s % 3600) / 60), 'min');
  return two(Math.floor(s / 86400), 'd', Math.floor((s % 86400) / 3600), 'h');
}

export function formatBytes(n) {
  if (typeof n !== 'number') return '–';
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}

/** The page's link to a visitor or an event in the search view. */
export function searchLink(kind, first, second) {
  const parts = ['search', kind, first, second].filter((p) => p !== undefined).map(encodeURIComponent);
  return `#${parts.join('/')}`;
}

/** A visitor object of the JSON (`{mbox3rdPartyId: id}` or `{mboxPC: id}`) as a link to its search. */
export function visitorLink(visitor) {
  const [kind, id] = Object.entries(visitor ?? {})[0] ?? [];
  if (kind === undefined) return '–';
  return el('a', { href: searchLink('visitor', kind, id), class: 'mono' }, `${kind} ${id}`);
}

/** An error the page shows: the server's message when it sent one. */
export class RequestError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

/**
 * GET or POST JSON on this server. The browser sends the Basic credentials it logged in
 * with; a POST is `application/json`, as the admin routes require.
 */
export async function requestJson(path, body) {
  const init = { credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.method = 'POST';
    init.headers['content-type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const text = await response.text();
  let json;
  try {
    json = text === '' ? {} : JSON.parse(text);
  } catch {
    json = {};
  }
  if (!response.ok) {
    const message = typeof json.message === 'string' ? json.message : `HTTP ${response.status}`;
    throw new RequestError(response.status, message);
  }
  return json;
}

/** The message line under the header; empty text hides it. */
export function showNotice(text, kind = 'info') {
  const notice = document.getElementById('notice');
  notice.className = `notice ${kind}`;
  notice.textContent = text;
  notice.hidden = text === '';
}
