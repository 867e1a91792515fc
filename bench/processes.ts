/**
 * Child processes of the bench, and the guarantee that none outlives it: every child is
 * registered here, stopped at the end of its run, and killed on error, SIGINT/SIGTERM or
 * exit of the bench process itself.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
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
export function roleEnv(base: { redisUrl: string; prefix: string; targetUrl: string; clientCode: string }, extra: Record<string, string>): Record<string, string> {
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
    ...extra,
  };
}

/** Starts `node dist/workers/<role>.js` and waits until it says it is running. */
export async function startRole(role: PipelineRole, env: Record<string, string>): Promise<Child> {
  const proc = runBuilt(`workers/${role}.js`, env);
  register(proc.child);
  const child: Child = { name: role, proc, pid: proc.child.pid ?? NaN };
  try {
    await proc.waitForLine(/target-ingest running/, 30_000);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return child;
}

/** Starts the baseline worker (bench/baseline-worker.ts, through tsx) and waits for "ready". */
export async function startBaselineWorker(name: string, env: Record<string, string>): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/baseline-worker.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  register(child);
  const lines: string[] = [];
  const exited = new Promise<number | string>((res) => child.once('exit', (code, signal) => res(code ?? signal ?? 'unknown')));
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      if (lines.includes('ready')) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exited.then((code) => reject(new Error(`baseline worker exited (${String(code)}):\n${lines.join('\n')}`)));
  });
  const proc: RunningProcess = {
    child, lines, exited,
    kill: (signal = 'SIGTERM') => child.kill(signal),
    waitForLine: () => Promise.reject(new Error('not used for the baseline worker')),
  };
  const handle: Child = { name, proc, pid: child.pid ?? NaN };
  const timeout = new Promise<never>((_, reject) => setTimeout(() => reject(new Error(`${name} not ready in 30 s:\n${lines.join('\n')}`)), 30_000).unref());
  try {
    await Promise.race([ready, timeout]);
  } catch (error) {
    await stopChild(handle);
    throw error;
  }
  return handle;
}
