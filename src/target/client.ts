import { XMLParser } from 'fast-xml-parser';
import { Agent, request } from 'undici';
import type { VisitorRef } from '../events/index.js';
import { TargetRejectedError, TargetUnavailableError, classifyError, classifyStatus, parseRetryAfter } from '../errors.js';
import { planSingleUpdate } from './single-request.js';

export interface TargetClientSettings {
  /** e.g. https://acme.tt.omtrdc.net (no trailing slash). */
  baseUrl: string;
  clientCode: string;
  /** Profile API token; sent as `Authorization: Bearer` when set. */
  authToken?: string;
  /** Per-request timeout (connect, headers and body each). Default 10 s. */
  timeoutMs?: number;
  /** Keep-alive connections per origin. Default 32. */
  connections?: number;
}

const BODY_EXCERPT_CHARS = 500;
const xml = new XMLParser({ parseTagValue: false, trimValues: true });

/**
 * Talks to Adobe Target's profile APIs over a keep-alive undici pool. Every failure comes
 * out as a classified PipelineError (permanent or transient); never by message matching.
 */
export class TargetClient {
  private readonly agent: Agent;
  private readonly timeoutMs: number;

  constructor(readonly settings: TargetClientSettings) {
    this.timeoutMs = settings.timeoutMs ?? 10_000;
    this.agent = new Agent({
      connections: settings.connections ?? 32,
      keepAliveTimeout: 30_000,
      connect: { timeout: this.timeoutMs },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  /** Sends one visitor's attributes with the Single Profile Update API; returns the calls made. */
  async updateSingle(visitor: VisitorRef, attributes: ReadonlyMap<string, string>): Promise<number> {
    const plan = planSingleUpdate(this.settings.clientCode, visitor, attributes);
    for (const req of plan) {
      const headers: Record<string, string> = {};
      if (this.settings.authToken !== undefined) headers.authorization = `Bearer ${this.settings.authToken}`;
      if (req.body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
      const body = await this.call(req.method, req.pathAndQuery, headers, req.body);
      const parsed = parseXmlResponse(body);
      if (parsed.success !== 'true') {
        throw new TargetRejectedError(`Target answered success=false: ${parsed.message ?? 'no message'}`, 200, excerpt(body));
      }
    }
    return plan.length;
  }

  /** One HTTP call; returns the body of a 2xx answer, throws a classified error otherwise. */
  private async call(method: 'GET' | 'POST', pathAndQuery: string, headers: Record<string, string>, body?: string): Promise<string> {
    let response;
    try {
      response = await request(`${this.settings.baseUrl}${pathAndQuery}`, {
        method,
        headers,
        body,
        dispatcher: this.agent,
        signal: AbortSignal.timeout(this.timeoutMs * 2),
      });
    } catch (error) {
      throw classifyError(error);
    }
    let text: string;
    try {
      text = await response.body.text();
    } catch (error) {
      throw classifyError(error);
    }
    const status = response.statusCode;
    if (status >= 200 && status < 300) return text;
    const message = `Target answered HTTP ${status} to ${method} ${pathAndQuery.split('?')[0] ?? ''}`;
    if (classifyStatus(status) === 'permanent') throw new TargetRejectedError(message, status, excerpt(text));
    const retryAfterMs = parseRetryAfter(response.headers['retry-after'], Date.now());
    throw new TargetUnavailableError(message, `TARGET_HTTP_${status}`, { status, bodyExcerpt: excerpt(text), ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) });
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

function excerpt(text: string): string {
  return text.length > BODY_EXCERPT_CHARS ? `${text.slice(0, BODY_EXCERPT_CHARS)}…` : text;
}

/** Reads Target's `<response>` XML into flat strings; unknown shapes give an empty object. */
export function parseXmlResponse(body: string): Record<string, string | undefined> {
  try {
    const doc = xml.parse(body) as { response?: Record<string, unknown> };
    const out: Record<string, string | undefined> = {};
    for (const [k, v] of Object.entries(doc.response ?? {})) out[k] = typeof v === 'string' ? v : JSON.stringify(v);
    return out;
  } catch {
    return {};
  }
}
