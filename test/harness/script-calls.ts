import { createHash, randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * How many times `run` made Redis run the script `lua` on keys under each of `roots` (EVALSHA
 * or EVAL, as MONITOR sees them on the server): round trips, whatever the client does. Calls
 * of other tests on the same server name other roots and are not counted. Run the script
 * once before (a first EVALSHA that finds no script is retried as EVAL: two commands).
 */
export async function countScriptCalls(
  redis: Redis,
  lua: string,
  roots: readonly string[],
  run: () => Promise<unknown>,
): Promise<number[]> {
  const sha = createHash('sha1').update(lua).digest('hex');
  const sentinel = `script-calls-${randomUUID()}`;
  const monitor = await redis.monitor();
  const calls = roots.map(() => 0);
  const seen = new Promise<void>((resolve) => {
    monitor.on('monitor', (_time: string, args: string[]) => {
      const [command, script] = [args[0]?.toLowerCase(), args[1]];
      if (command === 'echo' && script === sentinel) resolve();
      const isScript = (command === 'evalsha' && script === sha) || (command === 'eval' && script === lua);
      if (isScript)
        roots.forEach((root, k) => {
          if (args.includes(root)) calls[k] = (calls[k] ?? 0) + 1;
        });
    });
  });
  try {
    await run();
    // MONITOR reports commands in the order the server ran them: once the sentinel shows,
    // every command of `run` has been reported.
    await redis.echo(sentinel);
    await seen;
  } finally {
    monitor.disconnect();
  }
  return calls;
}
