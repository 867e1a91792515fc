import { XMLParser } from 'fast-xml-parser';
import { Agent, request, type Dispatcher } from 'undici';
import type { VisitorRef } from '../events/index.js';
import {
  CredentialsRefusedError,
  PipelineError,
  TargetRejectedError,
  TargetUnavailableError,
  classifyError,
  classifyStatus,
  parseRetryAfter,
} from '../errors.js';
import { planSingleUpdate, singleUpdateProblem } from './single-request.js';
import { resolveStatusLink } from './status-link.js';

export interface TargetClientSettings {
  /** e.g. https://acme.tt.omtrdc.net (no trailing slash). */
  baseUrl: string;
  clientCode: string;
  /** Profile API token; sent as `Authorization: Bearer` when set. A fixed token; see `token` for one that changes. */
  authToken?: string;
  /**
   * Where the profile token comes from when it can change while the process runs (a mounted
   * secret file, Adobe's Admin API): read before every call. Takes precedence over `authToken`.
   */
  token?: ProfileTokenSource;
  /** The HTTP dispatcher (e.g. an egress proxy agent); default a keep-alive pool of `connections`. */
  dispatcher?: Dispatcher;
  /** Per-request timeout (connect, headers and body each). Default 10 s. */
  timeoutMs?: number;
  /** Keep-alive connections per origin. Default 64. */
  connections?: number;
  /** Told about every HTTP call (endpoint, duration, outcome); for metrics. */
  onCall?: TargetCallObserver;
}

/** The current profile token, for a token that can change (src/target/token-source.ts). */
export interface ProfileTokenSource {
  /** The token to send now; undefined when none is configured. Never throws. */
  current(): string | undefined;
}

/** Which Target API a call went to. */
export type TargetEndpoint = 'single' | 'bulk' | 'status' | 'fetch';
export type TargetCallObserver = (
  endpoint: TargetEndpoint,
  durationMs: number,
  outcome: 'ok' | 'error',
  status?: number,
) => void;

const BODY_EXCERPT_CHARS = 500;

/** A bulk batch's state as Target reports it (`unknown` for anything else). */
export interface BatchStatus {
  status: 'complete' | 'incomplete' | 'stuck' | 'unknown';
  batchSize: number;
  consumedCount: number;
  successfulUpdates: number;
  profilesNotFound: number;
  failedUpdates: number;
  /**
   * Ids of the rows Target lists as failed (`<profile><id>…</id><status>failed</status></profile>`,
   * documented in the release notes of May 2020); empty when it lists none.
   */
  failedIds: string[];
}

/** Which Bulk Profile Update API a file goes to: v2 creates profiles, v1 updates existing ones. */
export type BulkApi = 'v1' | 'v2';

const xml = new XMLParser({ parseTagValue: false, trimValues: true });
const statusXml = new XMLParser({ parseTagValue: false, trimValues: true, isArray: (name) => name === 'profile' });

/** Raised when a batch status link names a host the token must not go to; the batch is held, not resubmitted. */
export class StatusLinkRefusedError extends PipelineError {
  constructor(reason: string) {
    super(`batch status not read: ${reason}`, 'BULK_STATUS_LINK_REFUSED', 'transient');
    this.name = 'StatusLinkRefusedError';
  }
}

/**
 * Talks to Adobe Target's profile APIs over a keep-alive undici pool. Every failure comes
 * out as a classified PipelineError (permanent or transient); never by message matching.
 */
export class TargetClient {
  private readonly agent: Dispatcher;
  private readonly timeoutMs: number;

  constructor(readonly settings: TargetClientSettings) {
    this.timeoutMs = settings.timeoutMs ?? 10_000;
    this.agent =
      settings.dispatcher ??
      new Agent({
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
      const headers = this.authHeaders(
        req.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded' } : {},
      );
      const body = await this.call(req.method, req.pathAndQuery, headers, req.body);
      const parsed = parseXmlResponse(body);
      if (parsed.success !== 'true') {
        throw new TargetRejectedError(
          `Target answered success=false: ${parsed.message ?? 'no message'}`,
          200,
          excerpt(body),
        );
      }
    }
    return plan.length;
  }

  /**
   * Posts one bulk file (`batch=…`, form-encoded) to the v2 API (default) or to v1. Returns
   * the batch status link as Target wrote it. A 200 with `success=false` is a rejection of
   * the file's content: permanent.
   */
  async submitBulk(body: string, api: BulkApi = 'v2'): Promise<string> {
    const headers = this.authHeaders({ 'content-type': 'application/x-www-form-urlencoded' });
    const version = api === 'v2' ? '/v2' : '';
    const text = await this.call(
      'POST',
      `/m2/${encodeURIComponent(this.settings.clientCode)}${version}/profile/batchUpdate`,
      headers,
      body,
    );
    const parsed = parseXmlResponse(text);
    if (parsed.success !== 'true')
      throw new TargetRejectedError(`Target rejected the batch: ${parsed.message ?? 'no message'}`, 200, excerpt(text));
    const statusUrl = parsed.batchStatus;
    if (statusUrl === undefined || statusUrl === '')
      throw new TargetUnavailableError(
        'Target accepted the batch but sent no batchStatus URL',
        'TARGET_NO_BATCH_STATUS',
      );
    return statusUrl;
  }

  /**
   * Reads a batch status (`complete`, `incomplete`, `stuck`) with its details and the rows
   * Target lists as failed. The link comes from Target's answer and names another host
   * (mboxedgeNN, over http): src/target/status-link.ts says where it is read and why; a link
   * to any other host throws StatusLinkRefusedError before anything is sent.
   */
  async batchStatus(statusLink: string): Promise<BatchStatus> {
    const resolved = resolveStatusLink(statusLink, this.settings.baseUrl);
    if (!resolved.ok) throw new StatusLinkRefusedError(resolved.reason);
    const url = new URL(resolved.url);
    url.searchParams.set('showDetails', 'true');
    const text = await this.call('GET', `${url.pathname}${url.search}`, this.authHeaders({}), undefined, url.origin);
    return parseBatchStatus(text);
  }

  /** Fetch Profile API: the visitor's attributes and modification times, or undefined (404). */
  async fetchProfile(visitor: VisitorRef): Promise<Record<string, { value: string; modifiedAt?: string }> | undefined> {
    const client = encodeURIComponent(this.settings.clientCode);
    const path =
      visitor.kind === 'pcId'
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
    const token = this.settings.token !== undefined ? this.settings.token.current() : this.settings.authToken;
    return token === undefined ? headers : { ...headers, authorization: `Bearer ${token}` };
  }

  /** One HTTP call; returns the body of a 2xx answer, throws a classified error otherwise. */
  private async call(
    method: 'GET' | 'POST',
    pathAndQuery: string,
    headers: Record<string, string>,
    body?: string,
    origin = this.settings.baseUrl,
  ): Promise<string> {
    const started = performance.now();
    const endpoint = endpointOf(pathAndQuery);
    let status: number | undefined;
    try {
      const text = await this.send(method, pathAndQuery, headers, body, origin, (s) => {
        status = s;
      });
      this.settings.onCall?.(endpoint, performance.now() - started, 'ok', status);
      return text;
    } catch (error) {
      this.settings.onCall?.(endpoint, performance.now() - started, 'error', status);
      throw error;
    }
  }

  private async send(
    method: 'GET' | 'POST',
    pathAndQuery: string,
    headers: Record<string, string>,
    body: string | undefined,
    origin: string,
    onStatus: (status: number) => void,
  ): Promise<string> {
    let response;
    try {
      response = await request(`${origin}${pathAndQuery}`, {
        method,
        headers,
        body,
        dispatcher: this.agent,
        signal: AbortSignal.any([AbortSignal.timeout(this.timeoutMs * 2), this.dropping.signal]),
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
    const message = `Target answered HTTP ${status} to ${method} ${pathForMessages(pathAndQuery)}`;
    if (status === 401 || status === 403) throw new CredentialsRefusedError(message, status, excerpt(text));
    if (classifyStatus(status) === 'permanent') throw new TargetRejectedError(message, status, excerpt(text));
    const retryAfterMs = parseRetryAfter(response.headers['retry-after'], Date.now());
    throw new TargetUnavailableError(message, `TARGET_HTTP_${status}`, {
      status,
      bodyExcerpt: excerpt(text),
      ...(retryAfterMs !== undefined ? { retryAfterMs } : {}),
    });
  }

  /** Aborts this client's calls (not those of others on a shared dispatcher): {@link abandon}. */
  private readonly dropping = new AbortController();

  /** True once {@link abandon} dropped the calls under way. */
  get abandoned(): boolean {
    return this.dropping.signal.aborted;
  }

  /**
   * Drops this client's calls under way and refuses new ones (shutdown, when jobs outlast
   * SHUTDOWN_TIMEOUT_MS: src/jobs/workers.ts). Their jobs fail at once (TARGET_ABORTED) and go
   * back to their queue, so another worker sends those values again. The dispatcher, which
   * the token source may share, stays open until {@link close}.
   */
  abandon(): Promise<void> {
    this.dropping.abort();
    return Promise.resolve();
  }

  /** Waits for the calls under way, or with `abandon` (or after {@link abandon}) drops them. */
  async close(abandon = false): Promise<void> {
    if (abandon || this.abandoned) {
      this.dropping.abort();
      await this.agent.destroy();
      return;
    }
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

/** Reads a batch status answer; unknown shapes give status `unknown` and zero counts. */
export function parseBatchStatus(body: string): BatchStatus {
  const parsed = parseXmlResponse(body);
  const count = (name: string): number => Number(parsed[name] ?? 0) || 0;
  const status = parsed.status;
  return {
    status: status === 'complete' || status === 'incomplete' || status === 'stuck' ? status : 'unknown',
    batchSize: count('batchSize'),
    consumedCount: count('consumedCount'),
    successfulUpdates: count('successfulUpdates'),
    profilesNotFound: count('profilesNotFound'),
    failedUpdates: count('failedUpdates'),
    failedIds: failedProfileIds(body),
  };
}

/** The ids of `<profile><id>…</id><status>failed</status></profile>` elements of a status answer. */
function failedProfileIds(body: string): string[] {
  if (!body.includes('<profile')) return [];
  try {
    const doc = statusXml.parse(body) as { response?: { profile?: Array<{ id?: unknown; status?: unknown }> } };
    const ids: string[] = [];
    for (const profile of doc.response?.profile ?? []) {
      const id = profile.id;
      const status = typeof profile.status === 'string' ? profile.status : 'failed';
      if ((typeof id === 'string' || typeof id === 'number') && status === 'failed') ids.push(String(id));
    }
    return ids;
  } catch {
    return [];
  }
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

/**
 * The path of a call as errors and logs name it: no query (single updates carry the visitor
 * and values there), and no visitor id where the Fetch Profile API has it in the path
 * (`/rest/v1/profiles/<pcId>`, `/rest/v1/profiles/thirdPartyId/<id>`): an error message
 * reaches logs and BullMQ's failed reason, which must not name a visitor.
 */
export function pathForMessages(pathAndQuery: string): string {
  const path = pathAndQuery.split('?')[0] ?? '';
  const profile = /^(.*\/rest\/v1\/profiles\/)(thirdPartyId\/)?[^/]+$/.exec(path);
  return profile === null ? path : `${profile[1]}${profile[2] ?? ''}…`;
}
