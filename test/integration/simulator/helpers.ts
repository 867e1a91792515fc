import { afterEach } from 'vitest';
import { startSimulator, type Simulator, type SimulatorOptions } from '../../../src/simulator/server.js';
import { request } from 'undici';
import { NO_ROW_LOSS } from '../../harness/no-row-loss.js';

/** The client code every simulator in these tests is started with. */
export const CLIENT = 'acme';

/** What a test looks at in an answer. */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
}

/** Sends one request and reads the whole answer as text. */
export async function send(
  url: string,
  options: { method?: 'GET' | 'POST'; body?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const res = await request(url, { method: options.method ?? 'GET', body: options.body, headers: options.headers });
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

/** POSTs a form body. */
export function postForm(url: string, body: string, headers: Record<string, string> = {}): Promise<Answer> {
  return send(url, {
    method: 'POST',
    body,
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
  });
}

/** The text of the first `<name>` element, XML entities resolved. */
export function xmlField(xml: string, name: string): string | undefined {
  const match = new RegExp(`<${name}>([^<]*)</${name}>`).exec(xml);
  if (match === null) return undefined;
  return (match[1] ?? '')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&apos;/g, "'")
    .replace(/&amp;/g, '&');
}

/**
 * Encodes a bulk file the documented way: cells joined by `,`, lines by `\n`, and the whole
 * file form-encoded once after `batch=`. A cell holding `,`, CR or LF cannot be carried
 * (no bulk encoding for it is documented), so this throws for one.
 */
export function encodeBatch(header: string[], rows: string[][]): string {
  for (const cell of [...header, ...rows.flat()]) {
    if (/[,\r\n]/.test(cell)) throw new Error(`cell ${JSON.stringify(cell)} has no documented bulk encoding`);
  }
  const file = [header, ...rows].map((cells) => cells.join(',')).join('\n');
  return `batch=${encodeURIComponent(file)}`;
}

/**
 * Encodes a bulk file for a simulator started with `bulkCellDecoding: 'percent'`: each cell
 * with encodeURIComponent, then the file form-encoded once more.
 */
export function encodeBatchTwice(header: string[], rows: string[][]): string {
  const file = [header, ...rows].map((cells) => cells.map(encodeURIComponent).join(',')).join('\n');
  return `batch=${encodeURIComponent(file)}`;
}

/**
 * The documented status link names an edge host (`http://mboxedge45.tt.omtrdc.net/...`):
 * a client follows its path and query on its own Target base URL. This does that for `base`.
 */
export function onSimulator(base: string, link: string): string {
  const url = new URL(link);
  return `${base}${url.pathname}${url.search}`;
}

/** Polls a batch status URL until the batch leaves `incomplete`; returns the last XML. */
export async function waitForBatch(statusUrl: string, timeoutMs = 5_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await send(`${statusUrl}&showDetails=true`);
    if (answer.status !== 200) throw new Error(`batch status answered ${answer.status}: ${answer.text}`);
    if (xmlField(answer.text, 'status') !== 'incomplete') return answer.text;
    if (Date.now() > deadline) throw new Error(`batch still incomplete after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/**
 * `start(options)` for a test file: starts a simulator with these defaults, and every
 * simulator started is closed after each test. The files that use it look at one behaviour
 * each (v1, failed rows, the override, credentials, the shared limit, lifetime), so their
 * defaults say which realism they turn off and why, next to the call.
 */
export function simulatorsPerTest(
  defaults: () => Partial<SimulatorOptions>,
): (options?: Partial<SimulatorOptions>) => Promise<Simulator> {
  const running: Simulator[] = [];
  afterEach(async () => {
    await Promise.all(running.splice(0).map((sim) => sim.close()));
  });
  return async (options = {}) => {
    const sim = await startSimulator({ ...NO_ROW_LOSS, clientCode: CLIENT, ...defaults(), ...options });
    running.push(sim);
    return sim;
  };
}
