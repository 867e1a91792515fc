/**
 * Child processes of the bench, and the guarantee that none outlives it: every child is
 * registered here, stopped at the end of its run, and killed on error, SIGINT/SIGTERM or
 * exit of the bench process itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ROOT, runBuilt, type RunningProcess } from '../test/harness/spawn-process.js';

const live = new Set<ChildProcess>();
const cleanups = new Set<() => Promise<void>>();

/** Registers an async cleanup (redis-server, simulator) to run if the bench is interrupted. */
export function onInterrupt(cleanup: () => Promise<void>): () => void {
  cleanups.add(cleanup);
  return () => cleanups.delete(cleanup);
}

let installed = false;
/** SIGINT/SIGTERM: stop children and registered parts, then exit 130; exit: SIGKILL leftovers. */
export function installInterruptHandlers(): void {
  if (installed) return;
  installed = true;
  const interrupt = (signal: NodeJS.Signals): void => {
    process.stderr.write(`\nbench: ${signal}: stopping everything it started\n`);
    for (const child of live) child.kill('SIGTERM');
    void Promise.allSettled([...cleanups].map((c) => c())).finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupt);
  process.once('SIGTERM', interrupt);
  // Last resort (uncaught error, process.exit): exit handlers must be synchronous.
  process.on('exit', () => {
    for (const child of live) child.kill('SIGKILL');
  });
}

function register(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
}

/** A running child: the harness's RunningProcess plus a name for the report. */
export interface Child {
  name: string;
  proc: RunningProcess;
  pid: number;
}

/** SIGTERM (the roles finish active jobs and exit), SIGKILL after `graceMs`. */
export async function stopChild(child: Child, graceMs = 15_000): Promise<void> {
  const { proc } = child;
  if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
  proc.kill('SIGTERM');
  const timer = setTimeout(() => proc.kill('SIGKILL'), graceMs);
  await proc.exited;
  clearTimeout(timer);
}

export type PipelineRole = 'map' | 'flusher' | 'deliver';

/** Production-like environment for one pipeline role (NODE_ENV=production needs an intake key). */
export function roleEnv(
  base: { redisUrl: string; prefix: string; targetUrl: string; clientCode: string },
  extra: Record<string, string>,
): Record<string, string> {
  return {
    NODE_ENV: 'production',
    INGEST_API_KEYS: `bench:${randomBytes(16).toString('hex')}`,
    REDIS_URL: base.redisUrl,
    REDIS_PREFIX: base.prefix,
    TARGET_CLIENT_CODE: base.clientCode,
    TARGET_BASE_URL: base.targetUrl,
    START_LOCAL_REDIS: 'false',
    PORT: '0',
    HOST: '127.0.0.1',
    LOG_LEVEL: 'info',
    // Kept completed jobs are a fixed cost (at most ~6 MB, docs/operations.md), not one per
    // event: left out so the bytes per pending event measure the backlog alone.
    KEEP_COMPLETED_JOBS: 'false',
    ...extra,
  };
}

/** Child output lines are kept for the report (log counts); a role logs one line per delivery job. */
function spawnNode(nodeArgs: string[], env: Record<string, string>): RunningProcess {
  const child = spawn(process.execPath, nodeArgs, {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  register(child);
  const lines: string[] = [];
  const waiters: Array<{ pattern: RegExp; resolve: () => void }> = [];
  const onData = (chunk: Buffer): void => {
    for (const line of chunk.toString('utf8').split('\n')) {
      if (line === '') continue;
      lines.push(line);
      for (const w of waiters.filter((x) => x.pattern.test(line))) w.resolve();
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  const exited = new Promise<number | string>((res) =>
    child.once('exit', (code, signal) => res(code ?? signal ?? 'unknown')),
  );
  return {
    child,
    lines,
    exited,
    kill: (signal = 'SIGTERM') => child.kill(signal),
    waitForLine(pattern, timeoutMs = 30_000) {
      return new Promise((resolve, reject) => {
        const found = lines.find((l) => pattern.test(l));
        if (found !== undefined) return resolve(found);
        const timer = setTimeout(
          () => reject(new Error(`no line matching ${String(pattern)} in ${timeoutMs} ms:\n${lines.join('\n')}`)),
          timeoutMs,
        );
        waiters.push({
          pattern,
          resolve: () => {
            clearTimeout(timer);
            resolve('');
          },
        });
        void exited.then((code) => {
          clearTimeout(timer);
          reject(new Error(`exited (${String(code)}) before ${String(pattern)}:\n${lines.join('\n')}`));
        });
      });
    },
  };
}

async function started(name: string, proc: RunningProcess, ready: RegExp): Promise<Child> {
  const child: Child = { name, proc, pid: proc.child.pid ?? NaN };
  try {
    await proc.waitForLine(ready, 30_000);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return child;
}

/**
 * Starts `node dist/<entry>` under `name` and waits for its `ready` line. With
 * `cpuProfileDir` it runs under `--cpu-prof` (not allowed in NODE_OPTIONS), written at exit.
 */
function startBuilt(
  name: string,
  entry: string,
  env: Record<string, string>,
  ready: RegExp,
  cpuProfileDir?: string,
): Promise<Child> {
  if (cpuProfileDir === undefined) {
    const proc = runBuilt(entry, env);
    register(proc.child);
    return started(name, proc, ready);
  }
  const args = [
    '--cpu-prof',
    '--cpu-prof-dir',
    cpuProfileDir,
    '--cpu-prof-name',
    `${name}-${Date.now()}.cpuprofile`,
    join(ROOT, 'dist', entry),
  ];
  return started(name, spawnNode(args, env), ready);
}

/** Starts `node dist/workers/<role>.js` and waits until it says it is running. */
export function startRole(role: PipelineRole, env: Record<string, string>, cpuProfileDir?: string): Promise<Child> {
  return startBuilt(role, `workers/${role}.js`, env, /target-ingest running/, cpuProfileDir);
}

/**
 * Starts what `npm start` runs (`node dist/workers/all-in-one.js`: intake and every worker
 * role in one process) and resolves once it listens, with the address it listens at.
 */
export async function startAllInOne(
  env: Record<string, string>,
  cpuProfileDir?: string,
): Promise<{ child: Child; address: string }> {
  const listening = /"msg":"HTTP listening"/;
  const child = await startBuilt('all-in-one', 'workers/all-in-one.js', env, listening, cpuProfileDir);
  const line = child.proc.lines.find((l) => listening.test(l)) ?? '';
  const address = /"address":"([^"]+)"/.exec(line)?.[1];
  if (address === undefined || !address.startsWith('http://127.0.0.1:')) {
    await stopChild(child);
    throw new Error(`all-in-one listens at an unexpected address: ${line}`);
  }
  return { child, address };
}

/** Starts the baseline worker (bench/baseline-worker.ts, through tsx) and waits for "ready". */
export function startBaselineWorker(name: string, env: Record<string, string>): Promise<Child> {
  return started(name, spawnNode(['--import', 'tsx', 'bench/baseline-worker.ts'], env), /^ready$/);
}
