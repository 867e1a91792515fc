import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';

/**
 * How many times `run` sent the script `lua` to Redis (EVALSHA, or EVAL after a NOSCRIPT)
 * on keys under each of `roots`, counted where the client writes each command: round trips,
 * whatever the store's code does. Counting on the server with MONITOR saw every other test's
 * commands too, and its connection failed under that load ("Command queue state error").
 * Run the script once before, so a first EVALSHA that finds no script does not count twice.
 */
export async function countScriptCalls(
  redis: Redis,
  lua: string,
  roots: readonly string[],
  run: () => Promise<unknown>,
): Promise<number[]> {
  const sha = createHash('sha1').update(lua).digest('hex');
  const calls = roots.map(() => 0);
  const original = redis.sendCommand.bind(redis);
  const text = (arg: unknown): string => (Buffer.isBuffer(arg) ? arg.toString() : String(arg));
  redis.sendCommand = (command: { name: string; args: unknown[] }, ...rest: unknown[]) => {
    const args = command.args.map(text);
    const isScript = (command.name === 'evalsha' && args[0] === sha) || (command.name === 'eval' && args[0] === lua);
    if (isScript)
      roots.forEach((root, k) => {
        if (args.includes(root)) calls[k] = (calls[k] ?? 0) + 1;
      });
    return (original as (...a: unknown[]) => unknown)(command, ...rest);
  };
  try {
    await run();
  } finally {
    redis.sendCommand = original;
  }
  return calls;
}
