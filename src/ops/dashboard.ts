import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { DefaultJobOptions, Job, Queue } from 'bullmq';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import type { HttpContext } from '../http-context.js';
import { QUEUE_DESCRIPTIONS, type QueueKey } from '../jobs/catalog.js';
import { adminGuard, type AdminRole, type AdminTokens } from '../http/admin-auth.js';
import type { RedactionPolicy } from '../redact.js';
import { OPS_ROUTES } from './routes.js';

interface BoardSettings {
  basePath: string;
  readOnly: boolean;
  allow: readonly AdminRole[];
  title: string;
}

/**
 * The queue dashboard (bull-board). Two boards over the same queues:
 * - `/admin/queues` for ADMIN_TOKEN: everything bull-board can do (retry, clean, pause...);
 * - `/admin/queues-readonly` for ADMIN_READONLY_TOKEN or ADMIN_TOKEN: bull-board's
 *   read-only mode, and every method but GET/HEAD refused before bull-board sees it.
 * Both take the token as Bearer or as the Basic password, and everything under them, static
 * assets included, sits behind the guard. Without ADMIN_TOKEN both paths answer 404 with a
 * message saying how to turn them on: admin routes are never open.
 * Job data and return values are shown through the process' redaction policy
 * (`ctx.redaction`, src/redact.ts), as in the logs and the dead-letter routes.
 * Each queue carries its description from the catalog (QUEUE_DESCRIPTIONS) and how long its
 * completed jobs stay; the dead-letter queue, which has no workers by design, does not show
 * bull-board's "No workers" warning (see {@link RedactedBullMQAdapter}).
 */
export function dashboardPlugin(ctx: HttpContext): FastifyPluginAsync {
  return async (app) => {
    const admin = ctx.config.ADMIN_TOKEN;
    if (admin === undefined) {
      disabledRoutes(app);
      return;
    }
    const tokens: AdminTokens = { admin, readonly: ctx.config.ADMIN_READONLY_TOKEN };
    const redactor = ctx.redaction;
    // Built from the queues object, so a queue added to the pipeline shows up by itself.
    const queues = Object.entries(ctx.pipeline.queues).map(([key, queue]: [string, Queue]) => ({
      queue,
      key: key as QueueKey,
    }));
    await app.register(
      board(queues, tokens, redactor, {
        basePath: OPS_ROUTES.dashboard,
        readOnly: false,
        allow: ['admin'],
        title: 'target-ingest',
      }),
    );
    await app.register(
      board(queues, tokens, redactor, {
        basePath: OPS_ROUTES.readonlyDashboard,
        readOnly: true,
        allow: ['admin', 'readonly'],
        title: 'target-ingest (read-only)',
      }),
    );
  };
}

interface BoardQueue {
  queue: Queue;
  key: QueueKey;
}

function board(
  queues: readonly BoardQueue[],
  tokens: AdminTokens,
  redactor: RedactionPolicy,
  settings: BoardSettings,
): FastifyPluginAsync {
  return async (app) => {
    // The hook sits in this plugin's context, so it covers every route bull-board adds below,
    // its static files included.
    app.addHook(
      'onRequest',
      adminGuard({
        tokens,
        allow: settings.allow,
        readOnly: settings.readOnly,
        readonlyPath: OPS_ROUTES.readonlyDashboard,
      }),
    );
    const serverAdapter = new FastifyAdapter();
    serverAdapter.setBasePath(settings.basePath);
    createBullBoard({
      queues: queues.map(({ queue, key }) => {
        const adapter = new RedactedBullMQAdapter(
          queue,
          { readOnlyMode: settings.readOnly, description: queueDescription(key, queue.defaultJobOptions) },
          redactor,
          key === 'deadLetter',
        );
        adapter.setFormatter('data', (data: unknown) => redactor.value(data));
        adapter.setFormatter('returnValue', (value: unknown) => redactor.value(value));
        return adapter;
      }),
      serverAdapter,
      options: { uiConfig: { boardTitle: settings.title } },
    });
    await app.register(serverAdapter.registerPlugin(), { prefix: settings.basePath });
  };
}

/**
 * What the board shows under a queue's name: the catalog's description, then how long its
 * completed jobs stay as this process adds them (KEEP_COMPLETED_JOBS, src/jobs/catalog.ts),
 * so an empty completed list reads as "removed", not as "nothing happened". Exported for its test.
 */
export function queueDescription(key: QueueKey, options: DefaultJobOptions): string {
  const kept = options.removeOnComplete;
  let retention = '';
  if (kept === true || kept === 0) retention = ' Completed jobs are removed as they complete.';
  else if (typeof kept === 'number') retention = ` The newest ${kept.toLocaleString('en-US')} completed jobs stay.`;
  else if (typeof kept === 'object') {
    const age = 'age' in kept ? ` for ${duration(kept.age)}` : '';
    const count = kept.count === undefined ? '' : ` (at most ${kept.count.toLocaleString('en-US')})`;
    retention = ` Completed jobs stay${age}${count}.`;
  }
  return `${QUEUE_DESCRIPTIONS[key]}${retention}`;
}

/** `10 minutes`, `1 hour`, `90 seconds`: a BullMQ retention age (seconds). */
function duration(seconds: number): string {
  const [n, unit] =
    seconds % 3600 === 0
      ? [seconds / 3600, 'hour']
      : seconds % 60 === 0
        ? [seconds / 60, 'minute']
        : [seconds, 'second'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/**
 * bull-board's BullMQ adapter with the job text the formatters do not reach masked too: a
 * failed job's reason and stack trace, and job logs. Data and return values go through the
 * formatters set on it.
 * `noWorkersByDesign` (the dead-letter queue): an empty worker list is reported as "not
 * applicable" (`null`, which bull-board shows as neither workers nor a "No workers" warning)
 * rather than as a warning; the queue's description says why. A worker that does connect to
 * such a queue (a mistake) is still listed.
 */
class RedactedBullMQAdapter extends BullMQAdapter {
  constructor(
    queue: Queue,
    options: ConstructorParameters<typeof BullMQAdapter>[1],
    private readonly redaction: RedactionPolicy,
    private readonly noWorkersByDesign = false,
  ) {
    super(queue, options);
  }

  override async getWorkers(): ReturnType<BullMQAdapter['getWorkers']> {
    const workers = await super.getWorkers();
    return this.noWorkersByDesign && workers !== null && workers.length === 0 ? null : workers;
  }

  override async getJob(id: string): Promise<Job | undefined> {
    const job = await super.getJob(id);
    return job === undefined || job === null ? job : maskedJob(job, this.redaction);
  }

  override async getJobs(...args: Parameters<BullMQAdapter['getJobs']>): Promise<Job[]> {
    return (await super.getJobs(...args)).map((job) => maskedJob(job, this.redaction));
  }

  override async getJobLogs(id: string): Promise<string[]> {
    return (await super.getJobLogs(id)).map((line) => this.redaction.text(line));
  }
}

/** The job as it is, except that `toJSON()` (what bull-board shows) has its free text masked. Exported for its test. */
export function maskedJob(job: Job, redaction: RedactionPolicy): Job {
  return new Proxy(job, {
    get(target, property) {
      if (property === 'toJSON') {
        return () => {
          const json = target.toJSON() as Record<string, unknown>;
          const { failedReason, stacktrace } = json;
          return {
            ...json,
            ...(typeof failedReason === 'string' ? { failedReason: redaction.text(failedReason) } : {}),
            ...(Array.isArray(stacktrace)
              ? {
                  stacktrace: (stacktrace as unknown[]).map((line) =>
                    typeof line === 'string' ? redaction.text(line) : line,
                  ),
                }
              : {}),
          };
        };
      }
      const value: unknown = Reflect.get(target, property, target);
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

const DISABLED = {
  error: 'not_found',
  message: 'admin routes are disabled: set ADMIN_TOKEN (at least 16 characters) to enable the dashboard',
};

function disabledRoutes(app: FastifyInstance): void {
  for (const base of [OPS_ROUTES.dashboard, OPS_ROUTES.readonlyDashboard]) {
    for (const url of [base, `${base}/*`]) {
      app.all(url, async (_request, reply) => reply.code(404).send(DISABLED));
    }
  }
}
