/**
 * The bench's HTTP producer: POSTs each batch to an intake's `/v1/events` with a source's
 * API key, the way a producer outside the process does (src/intake/http.ts answers).
 */
import { Pool } from 'undici';

/** Accepted events of one intake answer; any answer but 202 is a failure naming its status and message. */
export function acceptedFromAnswer(status: number, body: unknown): number {
  const answer = (typeof body === 'object' && body !== null ? body : {}) as { accepted?: unknown; message?: unknown };
  if (status === 202 && typeof answer.accepted === 'number') return answer.accepted;
  const message = typeof answer.message === 'string' ? answer.message : 'no message';
  throw new Error(`intake answered ${status}: ${message}`);
}

export interface HttpSender {
  /** Resolves with the events intake accepted (202 only, i.e. once Redis holds them). */
  send(events: readonly unknown[]): Promise<number>;
  close(): Promise<void>;
}

/** One keep-alive connection per send in flight, no pipelining: each client waits for its answer. */
export function createHttpSender(url: string, apiKey: string, connections: number): HttpSender {
  const pool = new Pool(url, { connections, pipelining: 1 });
  const headers = { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' };
  return {
    async send(events) {
      const res = await pool.request({ path: '/v1/events', method: 'POST', headers, body: JSON.stringify(events) });
      const text = await res.body.text();
      let body: unknown;
      try {
        body = JSON.parse(text);
      } catch {
        body = { message: text.slice(0, 200) };
      }
      return acceptedFromAnswer(res.statusCode, body);
    },
    close: () => pool.close(),
  };
}
