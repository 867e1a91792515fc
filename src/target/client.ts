import { XMLParser } from 'fast-xml-parser';
import { Agent, request } from 'undici';
import type { VisitorRef } from '../events/index.js';
import { PipelineError, TargetRejectedError, TargetUnavailableError, classifyError, classifyStatus, parseRetryAfter } from '../errors.js';
import { planSingleUpdate, singleUpdateProblem } from './single-request.js';

export interface TargetClientSettings {
  /** e.g. https://acme.tt.omtrdc.net (no trailing slash). */
  baseUrl: string;
  clientCode: string;
  /** Profile API token; sent as `Authorization: Bearer` when set. */
  authToken?: string;
  /** Per-request timeout (connect, headers and body each). Default 10 s. */
  timeoutMs?: number;
  /** Keep-alive connections per origin. Default 64. */
  connections?: number;
  /** Told about every HTTP call (endpoint, duration, outcome); for metrics. */
  onCall?: TargetCallObserver;
}

/** Which Target API a call went to. */
export type TargetEndpoint = 'single' | 'bulk' | 'status' | 'fetch';
export type TargetCallObserver = (endpoint: TargetEndpoint, durationMs: number, outcome: 'ok' | 'error', status?: number) => void;

const BODY_EXCERPT_CHARS = 500;

/** A bulk batch's state as Target reports it (`unknown` for anything else). */
export interface BatchStatus {
  status: 'complete' | 'incomplete' | 'stuck' | 'unknown';
  batchSize: number;
  consumedCount: number;
  successfulUpdates: number;
  profilesNotFound: number;
  failedUpdates: number;
}
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
      connections: settings.connections ?? 64,
      keepAliveTimeout: 30_000,
      connect: { timeout: this.timeoutMs },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
    });
  }

  /**
   * Sends one visitor's attributes with the Single Profile Update API; returns the calls made.
   * Never sends a request over the documented sizes: an update over 64 KB of profile data
   * (`PROFILE_TOO_LARGE`) or with an attribute no 60 KB POST can carry
   * (`SINGLE_REQUEST_TOO_LARGE`) is refused whole, before any call, with a permanent error.
   */
  async updateSingle(visitor: VisitorRef, attributes: ReadonlyMap<string, string>): Promise<number> {
    const plan = planSingleUpdate(this.settings.clientCode, visitor, attributes);
    const problem = singleUpdateProblem(attributes, plan);
    if (problem !== undefined) throw new PipelineError(problem.message, problem.code, 'permanent');
    for (const req of plan) {
      const headers = this.authHeaders(req.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {});
      const body = await this.call(req.method, req.pathAndQuery, headers, req.body);
      const parsed = parseXmlResponse(body);
      if (parsed.success !== 'true') {
        throw new TargetRejectedError(`Target answered success=false: ${parsed.message ?? 'no message'}`, 200, excerpt(body));
      }
    }
    return plan.length;
  }

  /**
   * Posts one bulk v2 file (`batch=…`, form-encoded). Returns the batch status URL.
   * A 200 with `success=false` is a rejection of the file's content: permanent.
   */
  async submitBulk(body: string): Promise<string> {
    const headers = this.authHeaders({ 'content-type': 'application/x-www-form-urlencoded' });
    const text = await this.call('POST', `/m2/${encodeURIComponent(this.settings.clientCode)}/v2/profile/batchUpdate`, headers, body);
    const parsed = parseXmlResponse(text);
    if (parsed.success !== 'true') throw new TargetRejectedError(`Target rejected the batch: ${parsed.message ?? 'no message'}`, 200, excerpt(text));
    const statusUrl = parsed.batchStatus;
    if (statusUrl === undefined || statusUrl === '') throw new TargetUnavailableError('Target accepted the batch but sent no batchStatus URL', 'TARGET_NO_BATCH_STATUS');
    return statusUrl;
  }

  /**
   * Reads a batch status (`complete`, `incomplete`, `stuck`) with its details. The URL comes
   * from Target's answer and lives on another host (mboxedgeNN); the token is only sent to
   * Target's own domain or the configured base URL's host, never to a host a response names.
   */
  async batchStatus(statusUrl: string): Promise<BatchStatus> {
    const url = new URL(statusUrl);
    if (!this.isTrustedHost(url)) throw new TargetRejectedError(`batch status URL points at an unexpected host (${url.host})`, 0, '');
    url.searchParams.set('showDetails', 'true');
    const text = await this.call('GET', `${url.pathname}${url.search}`, this.authHeaders({}), undefined, url.origin);
    const parsed = parseXmlResponse(text);
    const count = (name: string): number => Number(parsed[name] ?? 0) || 0;
    const status = parsed.status;
    return {
      status: status === 'complete' || status === 'incomplete' || status === 'stuck' ? status : 'unknown',
      batchSize: count('batchSize'),
      consumedCount: count('consumedCount'),
      successfulUpdates: count('successfulUpdates'),
      profilesNotFound: count('profilesNotFound'),
      failedUpdates: count('failedUpdates'),
    };
  }

  /** Fetch Profile API: the visitor's attributes and modification times, or undefined (404). */
  async fetchProfile(visitor: VisitorRef): Promise<Record<string, { value: string; modifiedAt?: string }> | undefined> {
    const client = encodeURIComponent(this.settings.clientCode);
    const path = visitor.kind === 'pcId'
      ? `/rest/v1/profiles/${encodeURIComponent(visitor.id)}?client=${client}`
      : `/rest/v1/profiles/thirdPartyId/${encodeURIComponent(visitor.id)}?client=${client}`;
    let text: string;
    try {
      text = await this.call('GET', path, this.authHeaders({}));
    } catch (error) {
      if (error instanceof TargetRejectedError && error.details.status === 404) return undefined;
      throw error;
    }
    const body = JSON.parse(text) as { profileAttributes?: Record<string, { value: string; modifiedAt?: string }> };
    return body.profileAttributes ?? {};
  }

  private authHeaders(headers: Record<string, string>): Record<string, string> {
    return this.settings.authToken === undefined ? headers : { ...headers, authorization: `Bearer ${this.settings.authToken}` };
  }

  private isTrustedHost(url: URL): boolean {
    const base = new URL(this.settings.baseUrl);
    return url.hostname === base.hostname || (url.protocol === 'https:' && url.hostname.endsWith('.tt.omtrdc.net'));
  }

  /** One HTTP call; returns the body of a 2xx answer, throws a classified error otherwise. */
  private async call(method: 'GET' | 'POST', pathAndQuery: string, headers: Record<string, string>, body?: string, origin = this.settings.baseUrl): Promise<string> {
    const started = performance.now();
    const endpoint = endpointOf(pathAndQuery);
    let status: number | undefined;
    try {
      const text = await this.send(method, pathAndQuery, headers, body, origin, (s) => { status = s; });
      this.settings.onCall?.(endpoint, performance.now() - started, 'ok', status);
      return text;
    } catch (error) {
      this.settings.onCall?.(endpoint, performance.now() - started, 'error', status);
      throw error;
    }
  }

  private async send(method: 'GET' | 'POST', pathAndQuery: string, headers: Record<string, string>, body: string | undefined, origin: string, onStatus: (status: number) => void): Promise<string> {
    let response;
    try {
      response = await request(`${origin}${pathAndQuery}`, {
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
    onStatus(status);
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

function endpointOf(pathAndQuery: string): TargetEndpoint {
  if (pathAndQuery.includes('/batchUpdate')) return 'bulk';
  if (pathAndQuery.includes('/batchStatus')) return 'status';
  if (pathAndQuery.startsWith('/rest/')) return 'fetch';
  return 'single';
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
