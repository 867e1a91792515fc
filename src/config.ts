import { createHash } from 'node:crypto';
import { z } from 'zod';
import { SECRET_VARIABLES } from './redact.js';

/**
 * Every setting comes from the environment, validated once at start by {@link loadConfig}.
 * Each variable's `.describe()` text says what it is for; `envType` metadata names the kind
 * of value it takes. docs/configuration.md is generated from both (scripts/gen-config-docs.ts).
 */

/** The kind of value a variable takes, as docs/configuration.md shows it. */
const envType = (text: string) => ({ envType: text });

/** A decimal number, exponent allowed (`6.048e8`, `1.0`, `.5`); no hex, no blanks. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

/**
 * A whole number from a string, with messages that name the problem and quote the value
 * (numbers are never secrets). `range` says what the bounds mean in the message.
 */
const wholeNumber = (fallback: number, min: number, max = Number.MAX_SAFE_INTEGER, range?: string) =>
  wholeNumberText(min, max, range).default(fallback);

/** {@link wholeNumber} without a default (unset stays undefined). */
const wholeNumberText = (min: number, max = Number.MAX_SAFE_INTEGER, range?: string) =>
  z
    .string()
    .transform((raw, ctx) => {
      const text = raw.trim();
      if (!DECIMAL.test(text) || !Number.isSafeInteger(Number(text))) {
        ctx.addIssue({ code: 'custom', message: `expected a whole number, got ${JSON.stringify(raw)}` });
        return z.NEVER;
      }
      const n = Number(text);
      if (n < min || n > max) {
        const expected =
          range ??
          (max === Number.MAX_SAFE_INTEGER
            ? min === 1
              ? 'must be greater than 0'
              : `must be at least ${min}`
            : `expected ${min}-${max}`);
        ctx.addIssue({ code: 'custom', message: `${expected}, got ${text}` });
        return z.NEVER;
      }
      return n;
    })
    .meta(envType(max === Number.MAX_SAFE_INTEGER ? `whole number ≥ ${min}` : `whole number ${min}–${max}`));

const positiveInt = (fallback: number) => wholeNumber(fallback, 1);
/** A share from 0 to 1 (`0.01`, `1e-3`), with a message that quotes the value. */
const share = (fallback: number) =>
  z
    .string()
    .transform((raw, ctx) => {
      const text = raw.trim();
      const n = Number(text);
      if (!DECIMAL.test(text))
        ctx.addIssue({ code: 'custom', message: `expected a share such as 0.01, got ${JSON.stringify(raw)}` });
      else if (n < 0 || n > 1) ctx.addIssue({ code: 'custom', message: `expected 0-1, got ${text}` });
      else return n;
      return z.NEVER;
    })
    .meta(envType('share, 0 to 1'))
    .default(fallback);

const port = (fallback: number) =>
  wholeNumberText(0, 65535, 'expected a port 0-65535').meta(envType('port 0–65535')).default(fallback);

const booleanFlag = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'], {
    error: (issue) => `expected true or false, got ${JSON.stringify(issue.input)}`,
  })
  .transform((v) => v === 'true' || v === '1' || v === 'yes')
  .meta(envType('boolean: true/false, 1/0, yes/no'));

/** One intake credential: the source it names and the SHA-256 (hex) of its key. */
export interface ApiKey {
  source: string;
  sha256: string;
  /** The key itself when given in plain text (to redact it elsewhere); intake compares digests only. */
  key?: string;
}

const SOURCE_NAME = /^[A-Za-z0-9_.-]{1,64}$/;
const HASHED_KEY = /^sha256:([0-9a-fA-F]{64})$/;

// Entries are `source:key` (a key of at least 16 characters) or `source:sha256:<64 hex>`,
// the SHA-256 of the key, so the key itself need not sit in the environment. A source may
// have several keys (rotation); one key may not name two sources.
const ApiKeysSchema = z
  .string()
  .default('')
  .meta(envType('comma-separated list of `source:key` or `source:sha256:<hex>`'))
  .transform((raw, ctx) => {
    const keys: ApiKey[] = [];
    const entries = raw
      .split(',')
      .map((e) => e.trim())
      .filter((e) => e !== '');
    entries.forEach((entry, index) => {
      const colon = entry.indexOf(':');
      const source = colon > 0 ? entry.slice(0, colon) : '';
      const secret = colon > 0 ? entry.slice(colon + 1) : '';
      const hashed = HASHED_KEY.exec(secret)?.[1];
      // Never echo the entry: it holds a secret.
      let problem: string | undefined;
      if (!SOURCE_NAME.test(source)) problem = 'must be source:key with a source of 1-64 characters [A-Za-z0-9_.-]';
      else if (hashed === undefined && secret.startsWith('sha256:'))
        problem = 'must be source:sha256:<64 hex digits> for a hashed key';
      else if (hashed === undefined && secret.length < 16)
        problem = 'must be source:key with a key of at least 16 characters';
      const sha256 = hashed?.toLowerCase() ?? createHash('sha256').update(secret, 'utf8').digest('hex');
      if (problem === undefined && keys.some((k) => k.sha256 === sha256))
        problem = 'repeats the key of an earlier entry; one key names one source';
      if (problem === undefined) keys.push(hashed === undefined ? { source, sha256, key: secret } : { source, sha256 });
      else ctx.addIssue({ code: 'custom', message: `entry ${index + 1} ${problem}` });
    });
    return keys;
  });

/** The URLs listed in REDIS_URL (comma-separated seeds for a cluster). */
export function redisSeeds(value: string): string[] {
  return value
    .split(',')
    .map((url) => url.trim())
    .filter((url) => url !== '');
}

function isRedisUrl(value: string): boolean {
  try {
    return ['redis:', 'rediss:'].includes(new URL(value).protocol);
  } catch {
    return false;
  }
}

/**
 * The IMS scopes asked for by default: those Adobe's Developer Console lists for an OAuth
 * server-to-server credential with the Adobe Target API (check the credential's page; set
 * TARGET_IMS_SCOPES to what it shows).
 */
export const DEFAULT_IMS_SCOPES =
  'openid,AdobeID,target_sdk,additional_info.projectedProductContext,read_organizations,additional_info.roles';

export const EnvSchema = z.object({
  NODE_ENV: z
    .enum(['development', 'production', 'test'])
    .default('development')
    .describe(
      'Deployment kind. `production` requires TARGET_CLIENT_CODE and INGEST_API_KEYS, and never starts a private redis-server.',
    ),
  REDIS_URL: z
    .string()
    .refine((value) => redisSeeds(value).every(isRedisUrl), {
      error: 'expected a redis:// or rediss:// URL (several, comma-separated, with REDIS_CLUSTER=true)',
    })
    .meta(envType('redis:// or rediss:// URL; several, comma-separated, with REDIS_CLUSTER'))
    .default('redis://127.0.0.1:6379')
    .describe(
      'Redis for queues and the visitor store; with REDIS_CLUSTER, one or more comma-separated seed nodes. A password in it is never printed.',
    ),
  REDIS_CLUSTER: booleanFlag
    .default(false)
    .describe("Connect with ioredis' Redis Cluster client; REDIS_URL then lists the seed nodes."),
  REDIS_SHARDS: wholeNumber(1, 1, 1024).describe(
    'Shards of the visitor store, each under its own hash tag (about the number of cluster masters); 1 keeps everything under `{REDIS_PREFIX}`. Change it only after draining the pipeline.',
  ),
  REDIS_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,32}$/, 'expected 1-32 characters of [A-Za-z0-9_-]')
    .meta(envType('1–32 characters of A-Z a-z 0-9 _ -'))
    .default('ti')
    .describe('Prefix of every queue and key of this pipeline; it is also the Redis Cluster hash tag.'),
  TARGET_CLIENT_CODE: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected a Target client code like "acmecorp"')
    .optional()
    .describe('Adobe Target client code. Unset: deliver to the built-in Target simulator (not allowed in production).'),
  TARGET_BASE_URL: z
    .url({ error: 'expected an http(s) URL' })
    .optional()
    .describe("Target's edge (or a simulator URL). Default `https://<TARGET_CLIENT_CODE>.tt.omtrdc.net`."),
  TARGET_AUTH_TOKEN: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Profile API token, sent as `Authorization: Bearer`, when "Require Authentication" is on in Target. Changing it needs a restart: prefer TARGET_AUTH_TOKEN_FILE. Not with TARGET_AUTH_TOKEN_FILE or TARGET_IMS_CLIENT_ID. Secret.',
    ),
  TARGET_AUTH_TOKEN_FILE: z
    .string()
    .min(1)
    .optional()
    .describe(
      'File holding the profile API token (a mounted secret), re-read within seconds when it changes and on every 401/403. Instead of TARGET_AUTH_TOKEN.',
    ),
  TARGET_IMS_CLIENT_ID: z
    .string()
    .min(1)
    .optional()
    .describe(
      "Client id of an Adobe IMS OAuth server-to-server credential (Developer Console): the profile token is then read from Target's Admin API, the only token source (not with TARGET_AUTH_TOKEN or TARGET_AUTH_TOKEN_FILE). Also the Admin API's x-api-key.",
    ),
  TARGET_IMS_CLIENT_SECRET: z
    .string()
    .min(1)
    .optional()
    .describe('Client secret of that credential; needed with TARGET_IMS_CLIENT_ID. Secret.'),
  TARGET_IMS_SCOPES: z
    .string()
    .regex(
      /^[A-Za-z0-9_.:/-]+(,[A-Za-z0-9_.:/-]+)*$/,
      'expected comma-separated scopes such as "openid,AdobeID,target_sdk"',
    )
    .meta(envType('comma-separated scopes'))
    .default(DEFAULT_IMS_SCOPES)
    .describe(
      "Scopes asked of Adobe IMS; copy them from the credential's page in the Developer Console. The default is what that page lists for the Adobe Target API.",
    ),
  TARGET_ADMIN_TENANT: z
    .string()
    .regex(/^[A-Za-z0-9_-]{1,64}$/, 'expected a Target tenant like "acmecorp"')
    .optional()
    .describe('Tenant in Admin API paths (`/<tenant>/target/...`). Default: TARGET_CLIENT_CODE.'),
  TARGET_IMS_URL: z
    .url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
    .default('https://ims-na1.adobelogin.com/ims/token/v3')
    .describe('Adobe IMS token endpoint (OAuth server-to-server).'),
  TARGET_ADMIN_URL: z
    .url({ protocol: /^https?$/, error: 'expected an http(s) URL' })
    .default('https://mc.adobe.io')
    .describe("Base URL of Target's Admin API."),
  TARGET_TOKEN_REGENERATE: booleanFlag
    .default(false)
    .describe(
      'Let the Admin API regenerate the profile token once it has less than TARGET_TOKEN_REGENERATE_BEFORE_MS left. Off by default: a new token breaks every other system using the old one at once. Needs TARGET_IMS_CLIENT_ID.',
    ),
  TARGET_TOKEN_REGENERATE_BEFORE_MS: positiveInt(24 * 3600_000).describe(
    'With TARGET_TOKEN_REGENERATE: regenerate when the token expires within this long.',
  ),
  TARGET_TIMEOUT_MS: positiveInt(10_000).describe('Timeout of each call to Target.'),
  TARGET_CONNECTIONS: positiveInt(64).describe(
    'Keep-alive connections to Target per process: single-update calls per second are at most this many per Target round trip (64 at 20 ms: about 3,200 calls/s).',
  ),
  PORT: port(8080).describe('HTTP port of every process: intake, `/healthz`, `/readyz`, `/metrics`, the dashboard.'),
  HOST: z
    .string()
    .min(1)
    .optional()
    .describe(
      'Address the HTTP server binds. Unset: `0.0.0.0` (every interface) when INGEST_API_KEYS is set, `127.0.0.1` (this machine only) when it is not, because intake then takes every request as source `dev`. Containers need `0.0.0.0` to be reachable.',
    ),
  INTAKE_BODY_LIMIT_BYTES: positiveInt(5 * 1024 * 1024).describe(
    'Largest `POST /v1/events` body; bigger ones get 413 `BODY_TOO_LARGE`.',
  ),
  INTAKE_MAX_EVENTS: positiveInt(10_000).describe(
    'Most events (array elements or non-blank NDJSON lines) one intake request may carry; more get 413 `TOO_MANY_EVENTS`.',
  ),
  INTAKE_MAX_QUEUED_BATCHES: positiveInt(2_000).describe(
    'Intake answers 429 while more ingest jobs than this are waiting, delayed for a retry or running. It counts batches, not events: an HTTP request, an SDK `sendMany` or an import batch is one job per 1,000 events.',
  ),
  INTAKE_MAX_PENDING_VISITORS: positiveInt(500_000).describe(
    'Intake answers 429 while more visitors (not events) than this have changes waiting for delivery or in flight.',
  ),
  INTAKE_MAX_REDIS_MEMORY_RATIO: z
    .string()
    .transform((raw, ctx) => {
      const text = raw.trim();
      const n = Number(text);
      if (!DECIMAL.test(text))
        ctx.addIssue({ code: 'custom', message: `expected a fraction such as 0.9, got ${JSON.stringify(raw)}` });
      else if (n <= 0 || n > 1)
        ctx.addIssue({ code: 'custom', message: `must be greater than 0 and at most 1, got ${text}` });
      else return n;
      return z.NEVER;
    })
    .meta(envType('fraction, above 0 and at most 1'))
    .default(0.9)
    .describe('Intake answers 503 while Redis uses more than this fraction of its `maxmemory` (when one is set).'),
  INTAKE_RETRY_AFTER_SECONDS: positiveInt(5).describe('`Retry-After` of the 429 and 503 answers of intake.'),
  INGEST_API_KEYS: ApiKeysSchema.describe(
    'Intake keys: `source:key` (a key of at least 16 characters) or `source:sha256:<hex of the key>`, comma-separated; a source may have several keys. Unset outside production: every request is taken as source `dev`. Secret.',
  ),
  ADMIN_TOKEN: z
    .string()
    .min(16, 'must be at least 16 characters')
    .optional()
    .describe(
      'Opens `/admin/queues` and `/admin/dead-letters` (Bearer, or Basic password); at least 16 characters. Unset: admin routes are off. Secret.',
    ),
  ADMIN_READONLY_TOKEN: z
    .string()
    .min(16, 'must be at least 16 characters')
    .optional()
    .describe(
      'Opens only the read-only dashboard `/admin/queues-readonly` and dead-letter reads; needs ADMIN_TOKEN and must differ from it. Secret.',
    ),
  MAPPING_FILE: z
    .string()
    .min(1)
    .optional()
    .describe('JSON mapping file that extends or replaces the default event mapping (docs/producers.md).'),
  COALESCE_WINDOW_MS: positiveInt(5_000).describe("Delay from a visitor's first pending change to its delivery."),
  COALESCE_MAX_WAIT_MS: positiveInt(60_000).describe(
    'Must be at least COALESCE_WINDOW_MS. The due time is fixed at the first change plus the window, so later events never postpone it; a visitor held behind its earlier delivery, or handed back for the bulk budget, waits for that on top.',
  ),
  FLUSH_INTERVAL_MS: positiveInt(200).describe(
    'How often the flusher looks for due visitors: a due visitor waits up to this long on top of the window. An idle tick costs about 60 Redis commands.',
  ),
  FLUSH_BATCH_SIZE: positiveInt(200).describe('Most visitors one flush claims (and one delivery job carries).'),
  CLAIM_LEASE_MS: positiveInt(60_000).describe(
    'How long a claimed visitor stays with its flusher before another may take it back. At least twice TARGET_TIMEOUT_MS.',
  ),
  DELIVERY_MODE: z
    .enum(['auto', 'single', 'bulk'], { error: 'expected auto, single or bulk' })
    .default('auto')
    .describe(
      '`auto` picks single or bulk per flush (docs/target.md, docs/architecture.md); `single` or `bulk` force one API.',
    ),
  SINGLE_DAILY_BUDGET: positiveInt(1_000_000).describe(
    'Single Profile Update calls allowed per rolling 24 hours, all processes together.',
  ),
  BULK_THRESHOLD: positiveInt(100).describe(
    'In `auto` mode, a flush with at least this many due visitors goes by bulk.',
  ),
  FLUSH_BULK_BATCH_SIZE: wholeNumber(
    50_000,
    1,
    500_000,
    'expected 1-500000 (500,000 is the row limit of one bulk file)',
  ).describe(
    'Visitors per bulk claim (Target allows 500,000 rows a file). A claim makes one file per identity kind, and every file costs a bulk call plus its status polls, so larger claims carry bursts further.',
  ),
  BULK_CALLS_PER_MINUTE: wholeNumber(
    35,
    2,
    Number.MAX_SAFE_INTEGER,
    'must be at least 2 (a claim with both identity kinds submits two files at once)',
  ).describe(
    "This pipeline's share of the 50 calls a minute Target allows the bulk, Admin and Reporting APIs of the account together (bulk submits, status polls, Admin API calls), all processes together. The default leaves 15 to other users of the account. At least 2: a claim with both identity kinds submits two files at once.",
  ),
  BULK_CALLS_WINDOW_MS: positiveInt(60_000).describe(
    'The window of BULK_CALLS_PER_MINUTE. Target documents one minute; shorter only for tests and the bench.',
  ),
  BULK_STATUS_POLL_MS: positiveInt(1_000).describe(
    'First batch-status poll after a bulk submit until a batch has completed (a new pipeline: the estimate is kept in Redis for a week, so restarts keep it; a short start costs a few polls once); from then on the first poll follows how long batches take (halved after a batch read `complete` at its first poll, the time it took otherwise), between BULK_STATUS_MIN_POLL_MS and BULK_STATUS_FIRST_POLL_MAX_MS. Later polls back off from the first one up to BULK_STATUS_MAX_POLL_MS.',
  ),
  BULK_STATUS_MIN_POLL_MS: positiveInt(250).describe(
    'Soonest first batch-status poll, however fast recent batches completed (BULK_STATUS_POLL_MS if that is smaller).',
  ),
  BULK_STATUS_FIRST_POLL_MAX_MS: positiveInt(10 * 60_000).describe(
    'Latest first batch-status poll, however slow recent batches were: a Target that got faster again is noticed within this.',
  ),
  BULK_STATUS_MAX_POLL_MS: positiveInt(60_000).describe('Longest wait between two batch-status polls.'),
  BULK_MAX_RESUBMITS: wholeNumber(3, 0).describe(
    'Resubmissions of a bulk batch Target reports `stuck` before its visitors are dead-lettered (`BULK_BATCH_STUCK`).',
  ),
  BULK_STATUS_GIVE_UP_MS: positiveInt(25 * 3600_000).describe(
    'A bulk batch whose `complete` has not been read this long after its submit (still incomplete, an unknown batch id, an unreadable status) is submitted again, as often as it takes; never dead-lettered. Adobe: batches take "generally under one hour … as long as 24 hours".',
  ),
  BULK_MAX_CLAIMS_IN_FLIGHT: positiveInt(10).describe(
    'Bulk claims between claim and `complete` at once. Each owes up to two status polls every BULK_STATUS_MAX_POLL_MS, so 10 claims at the 60 s default cost at most 20 calls a minute of BULK_CALLS_PER_MINUTE.',
  ),
  BULK_PCID_ROUTE: z
    .enum(['v1', 'v2', 'single'], { error: 'expected v1, v2 or single' })
    .default('v1')
    .describe(
      'Where pcId (mboxPC) visitors go when delivery is by bulk: `v1` (ECID implementations; Adobe: do not put pcId in a v2 file there), `v2` (no ECID), or `single` (kept on single updates).',
    ),
  DELIVERY_MAX_ATTEMPTS: positiveInt(12).describe(
    'A delivery is dead-lettered only when it has had this many attempts and is older than DELIVERY_MAX_AGE_MS.',
  ),
  DELIVERY_MAX_AGE_MS: positiveInt(3 * 3600_000).describe(
    'A delivery is dead-lettered only once it is this old (and DELIVERY_MAX_ATTEMPTS are spent), so a long Target outage delays updates instead of dropping them.',
  ),
  RETRY_BASE_MS: positiveInt(1_000).describe(
    'First retry delay of a delivery; it doubles per attempt, with jitter, and is never shorter than `Retry-After`.',
  ),
  RETRY_MAX_MS: positiveInt(5 * 60_000).describe(
    'Longest delay between two delivery attempts (a longer `Retry-After` still wins, up to RETRY_AFTER_MAX_MS).',
  ),
  RETRY_AFTER_MAX_MS: positiveInt(3_600_000).describe(
    'Longest `Retry-After` honoured (default 1 h): a longer one (86400 from a proxy or a maintenance page) is cut to this, and the delivery, bulk pause or status poll tries again then.',
  ),
  DEAD_LETTER_MAX_COUNT: positiveInt(100_000).describe(
    'Dead letters kept at most; the flusher trims the oldest once a minute, logged and counted.',
  ),
  DEAD_LETTER_MAX_AGE_MS: positiveInt(30 * 24 * 3600_000).describe('Dead letters older than this are trimmed.'),
  KEEP_COMPLETED_JOBS: booleanFlag
    .default(true)
    .describe(
      'Keep completed jobs visible for a while (bull-board, `ti_queue_jobs{state="completed"}`): ingest jobs 10 minutes and at most 100, delivery, status and flush jobs 1 hour and at most 1,000 (flush 100). A kept job keeps its counts, not its events or visitor keys (1-2 KB each, about 6 MB at most in all). `false` removes each job as it completes. Applies to jobs this process adds.',
    ),
  FORGET_SUPPRESS_MS: positiveInt(30 * 24 * 3600_000).describe(
    'After `target-ingest forget`, how long events, imports and replays for that visitor are dropped (counted in `ti_events_suppressed_total`) instead of bringing its data back. A forget request may ask for another time.',
  ),
  SHUTDOWN_TIMEOUT_MS: positiveInt(20_000).describe(
    'On SIGTERM, how long active jobs may finish before they are handed back (their lock lapses and another worker redoes them). The whole shutdown gets this plus 5 s, then the process exits 1 and logs what did not close. A second signal exits at once.',
  ),
  DEDUPE_WINDOW_MS: positiveInt(7 * 24 * 3600 * 1000).describe(
    'Event ids are remembered per source at least this long (at most about twice) to recognise resends.',
  ),
  TARGET_PROFILE_LIFETIME_DAYS: wholeNumber(14, 1, 90, 'expected 1-90 (Adobe keeps profiles at most 90 days)').describe(
    'How long Target keeps a profile after its last activity (Adobe: two weeks by default, at most 90 days, set per account). A thirdPartyId delivered longer ago is treated as unknown: its next delivery goes by bulk v2, which creates it again.',
  ),
  DELIVERED_RETENTION_MS: wholeNumberText(1)
    .optional()
    .describe(
      'How long the event time and value of what Target holds are remembered per visitor and attribute: they stop older, late events from overwriting it and let a v2 row carry it again. Default: TARGET_PROFILE_LIFETIME_DAYS; longer only with a warning (Target has dropped the profile by then).',
    ),
  DELIVERY_LOG_ENTRIES: wholeNumber(10, 0, 1000, 'expected 0-1000').describe(
    "Deliveries remembered per visitor (when, single or bulk, batch id, Target's answer, the event of each value sent; no values) for `GET /admin/visitors/...` and `target-ingest trace`. 0 keeps none.",
  ),
  DELIVERY_LOG_RETENTION_MS: positiveInt(7 * 24 * 3600_000).describe(
    "How long a visitor's delivery log is kept after its last delivery; older entries are not shown.",
  ),
  LANDING_AUDIT_SAMPLE: share(0.01).describe(
    "Share of delivered visitors whose profile is read back through the Fetch Profile API after LANDING_AUDIT_DELAY_MS, to count values that did not land (`ti_landing_audit_total`) and send those again (docs/operations.md#landing-audit). Fetch calls do not count against Target's mbox calls. 0 turns the sampled audit off; a single update accepted after an earlier call for the same visitor got no answer, and a bulk row completed while an earlier file with it may still be at Target (a lost answer, a batch given up on), are still read back (docs/invariants.md, P4).",
  ),
  LANDING_AUDIT_MAX_RESENDS: wholeNumber(3, 0).describe(
    'Times the landing audit sends one delivered value again (the same event) when it keeps finding it missing at Target; past that it is counted and logged, not sent again, so a row Target keeps accepting and never storing does not cost bulk calls forever.',
  ),
  LANDING_AUDIT_DELAY_MS: wholeNumber(3_600_000, 0).describe(
    'How long after Target accepted a delivery its profile is read back. Adobe: updates "generally occur in under one hour, but might take as long as 24 hours"; a value still being processed counts as missing and is sent again (harmless, but it costs a call).',
  ),
  MAX_VALUE_LENGTH: positiveInt(256).describe('Longest attribute value accepted, in characters.'),
  WORKER_CONCURRENCY: positiveInt(8).describe('Parallel jobs per worker, per process.'),
  HEAP_GROWING_PERCENT: wholeNumber(50, 0, 1000, 'expected 0-1000 (0: V8 decides)').describe(
    "After each major GC, V8 lets a process's heap grow this many percent over its live data before the next one (src/heap.ts). 0 leaves V8's own factor (up to 4x).",
  ),
  WORKER_LOCK_MS: positiveInt(30_000).describe(
    'BullMQ job lock and stall check of every worker: a job whose process died runs again after about twice this.',
  ),
  SIMULATOR_PORT: port(8090).describe(
    'Port of the built-in Target simulator when TARGET_CLIENT_CODE is unset (`npm start`).',
  ),
  SIMULATOR_BATCH_PROCESSING_MS: wholeNumber(30_000, 0).describe(
    'How long the built-in simulator keeps a bulk batch `incomplete` (`npm start`). Real Target takes minutes to hours; 30 s shows a batch being processed without a long wait.',
  ),
  SIMULATOR_BULK_ROW_LOSS: share(0.001).describe(
    'Share of bulk rows the built-in simulator accepts, reports successful and never stores (`npm start`). Adobe: up to 0.1% of large production batches may not be onboarded; the landing audit finds such rows and sends them again.',
  ),
  DATA_DIR: z.string().min(1).default('.data').describe('Where a private redis-server keeps its append-only file.'),
  START_LOCAL_REDIS: booleanFlag
    .default(true)
    .describe('Start a private redis-server when none answers at REDIS_URL (never with NODE_ENV=production).'),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('pino level. JSON lines in production, pretty lines on a terminal otherwise.'),
});

export type Env = z.infer<typeof EnvSchema>;

/** The validated configuration every part of the process reads. */
export interface Config extends Omit<
  Env,
  'TARGET_BASE_URL' | 'DELIVERED_RETENTION_MS' | 'TARGET_ADMIN_TENANT' | 'HOST'
> {
  /** HOST, or the default {@link resolveListen} picks from INGEST_API_KEYS. */
  HOST: string;
  /** Why the HTTP server listens where it does, when that follows from missing intake keys; logged first at start. */
  listenWarning: string | undefined;
  /** Target base URL, or undefined when the built-in simulator is used. */
  TARGET_BASE_URL: string | undefined;
  /** DELIVERED_RETENTION_MS, or the profile lifetime when unset. */
  DELIVERED_RETENTION_MS: number;
  /** TARGET_ADMIN_TENANT, or the client code when unset. */
  TARGET_ADMIN_TENANT: string;
  /** Settings that are valid but probably not what was meant; logged at start. */
  warnings: string[];
  /** True when no TARGET_CLIENT_CODE is set and deliveries go to the built-in simulator. */
  useSimulator: boolean;
  /** Client code used on the wire (the simulator's when useSimulator). */
  clientCode: string;
}

export const SIMULATOR_CLIENT_CODE = 'simulator';

const DAY_MS = 24 * 3600_000;

/** Where the HTTP server listens, and what the start says about it. */
export interface ListenChoice {
  host: string;
  /** Set when intake has no keys: says where it listens and how to change that. */
  warning: string | undefined;
}

const LOOPBACK = /^(?:127(?:\.\d{1,3}){3}|::1|\[::1\]|localhost)$/i;

/**
 * The address the HTTP server binds. HOST when set; unset, every interface (`0.0.0.0`) with
 * intake keys, and only this machine (`127.0.0.1`) without them, because intake then takes
 * every request as source `dev` (outside production; production requires keys). Pure.
 */
export function resolveListen(host: string | undefined, apiKeyCount: number): ListenChoice {
  if (apiKeyCount > 0) return { host: host ?? '0.0.0.0', warning: undefined };
  if (host === undefined) {
    return {
      host: '127.0.0.1',
      warning: `no INGEST_API_KEYS: intake accepts every request as source ${DEV_SOURCE_NAME}, listening on 127.0.0.1 only; set HOST=0.0.0.0 to listen on every interface`,
    };
  }
  if (LOOPBACK.test(host)) return { host, warning: undefined };
  return {
    host,
    warning: `no INGEST_API_KEYS: intake accepts every request as source ${DEV_SOURCE_NAME}, listening on ${host} (HOST), reachable from other machines; set INGEST_API_KEYS, or unset HOST to listen on 127.0.0.1 only`,
  };
}

/** The source intake records without keys (src/intake/intake-auth.ts names it DEV_SOURCE). */
const DEV_SOURCE_NAME = 'dev';

/** Raised by {@link loadConfig}; `problems` names variables, never secret values. */
export class ConfigError extends Error {
  readonly code = 'CONFIG_INVALID';
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** A check across variables, run once every variable it reads is valid. */
interface Relation {
  needs: ReadonlyArray<keyof Env>;
  check: (env: Partial<Env>) => string | undefined;
}

// Pick<Env, K> lets a check read only the variables it declares, so "every one valid" holds.
function relation<K extends keyof Env>(
  needs: readonly K[],
  check: (env: Pick<Env, K>) => string | undefined,
): Relation {
  return { needs, check: (env) => check(env as Pick<Env, K>) };
}

const RELATIONS: readonly Relation[] = [
  relation(['COALESCE_MAX_WAIT_MS', 'COALESCE_WINDOW_MS'], (e) =>
    e.COALESCE_MAX_WAIT_MS < e.COALESCE_WINDOW_MS
      ? 'COALESCE_MAX_WAIT_MS: must be at least COALESCE_WINDOW_MS'
      : undefined,
  ),
  relation(['CLAIM_LEASE_MS', 'TARGET_TIMEOUT_MS'], (e) =>
    e.CLAIM_LEASE_MS < e.TARGET_TIMEOUT_MS * 2
      ? 'CLAIM_LEASE_MS: must be at least twice TARGET_TIMEOUT_MS so a live delivery keeps its claim'
      : undefined,
  ),
  relation(['NODE_ENV', 'TARGET_CLIENT_CODE'], (e) =>
    e.NODE_ENV === 'production' && e.TARGET_CLIENT_CODE === undefined
      ? 'TARGET_CLIENT_CODE: required when NODE_ENV=production (the built-in simulator is for development)'
      : undefined,
  ),
  relation(['NODE_ENV', 'INGEST_API_KEYS'], (e) =>
    e.NODE_ENV === 'production' && e.INGEST_API_KEYS.length === 0
      ? 'INGEST_API_KEYS: required when NODE_ENV=production'
      : undefined,
  ),
  relation(['REDIS_CLUSTER', 'REDIS_URL'], (e) =>
    !e.REDIS_CLUSTER && redisSeeds(e.REDIS_URL).length > 1
      ? 'REDIS_URL: several URLs are only allowed with REDIS_CLUSTER=true (they are the seed nodes of a cluster)'
      : undefined,
  ),
  // One source of the profile token, so nobody wonders which of two disagreeing ones is sent.
  // With IMS credentials the Admin API is that source: a fixed token beside it would go
  // stale at the first rotation, and sending it would only earn 401s.
  relation(['TARGET_AUTH_TOKEN', 'TARGET_AUTH_TOKEN_FILE'], (e) =>
    e.TARGET_AUTH_TOKEN !== undefined && e.TARGET_AUTH_TOKEN_FILE !== undefined
      ? 'TARGET_AUTH_TOKEN, TARGET_AUTH_TOKEN_FILE: set one of them, not both (one source of the profile token)'
      : undefined,
  ),
  relation(['TARGET_IMS_CLIENT_ID', 'TARGET_IMS_CLIENT_SECRET'], (e) =>
    (e.TARGET_IMS_CLIENT_ID === undefined) !== (e.TARGET_IMS_CLIENT_SECRET === undefined)
      ? 'TARGET_IMS_CLIENT_ID, TARGET_IMS_CLIENT_SECRET: set both (the credential for the Admin API) or neither'
      : undefined,
  ),
  relation(['TARGET_IMS_CLIENT_ID', 'TARGET_AUTH_TOKEN', 'TARGET_AUTH_TOKEN_FILE'], (e) => {
    if (e.TARGET_IMS_CLIENT_ID === undefined) return undefined;
    const other =
      e.TARGET_AUTH_TOKEN !== undefined
        ? 'TARGET_AUTH_TOKEN'
        : e.TARGET_AUTH_TOKEN_FILE !== undefined
          ? 'TARGET_AUTH_TOKEN_FILE'
          : undefined;
    return other === undefined
      ? undefined
      : `TARGET_IMS_CLIENT_ID, ${other}: set one of them, not both (with IMS credentials the profile token comes from the Admin API)`;
  }),
  relation(['TARGET_TOKEN_REGENERATE', 'TARGET_IMS_CLIENT_ID'], (e) =>
    e.TARGET_TOKEN_REGENERATE && e.TARGET_IMS_CLIENT_ID === undefined
      ? 'TARGET_TOKEN_REGENERATE: needs TARGET_IMS_CLIENT_ID and TARGET_IMS_CLIENT_SECRET (the token is regenerated through the Admin API)'
      : undefined,
  ),
  relation(['ADMIN_READONLY_TOKEN', 'ADMIN_TOKEN'], (e) => {
    if (e.ADMIN_READONLY_TOKEN === undefined) return undefined;
    if (e.ADMIN_TOKEN === undefined)
      return 'ADMIN_READONLY_TOKEN: needs ADMIN_TOKEN too (admin routes are off without it)';
    return e.ADMIN_READONLY_TOKEN === e.ADMIN_TOKEN ? 'ADMIN_READONLY_TOKEN: must differ from ADMIN_TOKEN' : undefined;
  }),
];

/**
 * Validates each variable of `variables` on its own, then every relation whose variables are
 * all among them and valid: one bad variable never hides the problems of the others.
 */
function validate<K extends keyof Env>(env: Record<string, string | undefined>, variables: readonly K[]): Pick<Env, K> {
  // Empty strings mean "unset", as in docker-compose files with `VAR=`.
  const raw = (name: string): string | undefined => (env[name] === '' ? undefined : env[name]);
  const values: Partial<Env> = {};
  const invalid = new Set<keyof Env>();
  const problems: string[] = [];
  for (const variable of variables) {
    const parsed = EnvSchema.shape[variable].safeParse(raw(variable));
    if (parsed.success) {
      (values as Record<string, unknown>)[variable] = parsed.data;
      continue;
    }
    invalid.add(variable);
    for (const issue of parsed.error.issues) {
      const message = issue.message.startsWith(`${variable}:`)
        ? issue.message.slice(variable.length + 1).trim()
        : issue.message;
      problems.push(`${variable}: ${withoutSecrets(variable, raw(variable), message)}`);
    }
  }
  const checked = new Set<keyof Env>(variables);
  for (const { needs, check } of RELATIONS) {
    if (!needs.every((v) => checked.has(v) && !invalid.has(v))) continue;
    const problem = check(values);
    if (problem !== undefined) problems.push(problem);
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return values as Pick<Env, K>;
}

/**
 * A message about a secret variable with every trace of its value (and of REDIS_URL
 * passwords) cut out: a backstop behind messages that never quote secrets. Exported for its
 * test.
 */
export function withoutSecrets(variable: string, value: string | undefined, message: string): string {
  if (value === undefined || !SECRET_VARIABLES.has(variable)) return message;
  const secrets = [value, ...value.split(','), ...redisSeeds(value).map(passwordOf)].filter((s) => s.length >= 3);
  return secrets.reduce((text, secret) => text.replaceAll(secret, '<redacted>'), message);
}

function passwordOf(url: string): string {
  try {
    return decodeURIComponent(new URL(url).password);
  } catch {
    return '';
  }
}

const ALL_VARIABLES = Object.keys(EnvSchema.shape) as Array<keyof Env>;

/**
 * Validates the whole environment; pure: same input, same output, no IO. Throws ConfigError
 * listing every problem: each bad variable, and each relation between valid ones (including
 * what NODE_ENV=production requires).
 */
export function loadConfig(env: Record<string, string | undefined>): Config {
  const e = validate(env, ALL_VARIABLES) as Env;
  const useSimulator = e.TARGET_CLIENT_CODE === undefined;
  const clientCode = e.TARGET_CLIENT_CODE ?? SIMULATOR_CLIENT_CODE;
  const baseUrl = e.TARGET_BASE_URL ?? (useSimulator ? undefined : `https://${clientCode}.tt.omtrdc.net`);
  const lifetimeMs = e.TARGET_PROFILE_LIFETIME_DAYS * DAY_MS;
  const warnings: string[] = [];
  if (e.DELIVERED_RETENTION_MS !== undefined && e.DELIVERED_RETENTION_MS > lifetimeMs) {
    warnings.push(
      `DELIVERED_RETENTION_MS (${e.DELIVERED_RETENTION_MS} ms) is longer than TARGET_PROFILE_LIFETIME_DAYS (${e.TARGET_PROFILE_LIFETIME_DAYS} days): Target drops a profile before the pipeline forgets what it delivered there`,
    );
  }
  const listen = resolveListen(e.HOST, e.INGEST_API_KEYS.length);
  return {
    ...e,
    HOST: listen.host,
    listenWarning: listen.warning,
    TARGET_BASE_URL: baseUrl?.replace(/\/+$/, ''),
    TARGET_ADMIN_TENANT: e.TARGET_ADMIN_TENANT ?? clientCode,
    TARGET_ADMIN_URL: e.TARGET_ADMIN_URL.replace(/\/+$/, ''),
    DELIVERED_RETENTION_MS: e.DELIVERED_RETENTION_MS ?? lifetimeMs,
    useSimulator,
    clientCode,
    warnings,
  };
}

/**
 * Validates only `variables` (with the relations among them), for a command that reads no
 * others, such as the file import: a production deployment's requirements for delivery or
 * HTTP intake do not stop it. Pure, like {@link loadConfig}.
 */
export function loadConfigSubset<K extends keyof Env>(
  env: Record<string, string | undefined>,
  variables: readonly K[],
): Pick<Env, K> {
  return validate(env, variables);
}
