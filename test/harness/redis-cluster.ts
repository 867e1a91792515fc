import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Redis } from 'ioredis';
import { freePort, spawnRedis, type SpawnedRedis } from './redis-server.js';

const run = promisify(execFile);

/** One master of a test cluster: its port and data directory outlive a restart. */
export interface ClusterNode {
  port: number;
  dir: string;
  url: string;
  server: SpawnedRedis;
}

/** A Redis Cluster of redis-server children started for tests. */
export interface SpawnedCluster {
  nodes: ClusterNode[];
  /** REDIS_URL for the pipeline: every node, comma-separated. */
  seeds: string;
  /** SIGKILLs node `i`'s process and waits until it is gone. */
  kill(i: number): Promise<void>;
  /** Starts node `i` again on the same port with the same directory (nodes.conf, AOF). */
  restart(i: number): Promise<void>;
  /** A plain connection to node `i` (for INFO, CLUSTER ...); the caller closes it. */
  nodeClient(i: number): Redis;
  stop(): Promise<void>;
}

/** Why cluster tests cannot run here (the binaries are missing), or undefined when they can. */
export function clusterUnavailableReason(): string | undefined {
  for (const binary of ['redis-server', 'redis-cli']) {
    try {
      execFileSync(binary, ['--version'], { stdio: 'ignore' });
    } catch {
      return `${binary} is not on PATH: install Redis 7 (apt-get install redis-server / brew install redis) to run the Redis Cluster tests`;
    }
  }
  return undefined;
}

function startNode(port: number, dir: string): Promise<SpawnedRedis> {
  return spawnRedis({
    port,
    dir,
    appendOnly: true,
    extraArgs: [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      `nodes-${port}.conf`,
      // A master restarted within the node timeout is never marked failed, and a failed one
      // would not stop the other masters' slots from serving.
      '--cluster-node-timeout',
      '15000',
      '--cluster-require-full-coverage',
      'no',
    ],
  });
}

async function clusterInfo(port: number): Promise<string> {
  const client = new Redis({
    port,
    host: '127.0.0.1',
    lazyConnect: true,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    return String(await client.call('CLUSTER', 'INFO'));
  } catch {
    return '';
  } finally {
    client.disconnect();
  }
}

/** Waits until every node reports `cluster_state:ok`, all slots assigned and all nodes known. */
async function waitClusterOk(ports: readonly number[], timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const infos = await Promise.all(ports.map(clusterInfo));
    const ok = infos.every(
      (info) =>
        info.includes('cluster_state:ok') &&
        info.includes('cluster_slots_ok:16384') &&
        info.includes(`cluster_known_nodes:${ports.length}`),
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(
    `the test cluster on ports ${ports.join(', ')} did not reach cluster_state:ok within ${timeoutMs} ms`,
  );
}

/**
 * Starts `masters` redis-server processes with cluster mode on free ports (append-only,
 * fsync always, each in its own temp dir), joins them with `redis-cli --cluster create`
 * (no replicas: slots split evenly) and waits for `cluster_state:ok` on every node.
 */
export async function startRedisCluster(masters = 3): Promise<SpawnedCluster> {
  const nodes: ClusterNode[] = [];
  const stop = async (): Promise<void> => {
    await Promise.all(nodes.map((n) => n.server.stop()));
    for (const n of nodes) rmSync(n.dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters; i += 1) {
      const port = await freePort();
      const dir = mkdtempSync(join(tmpdir(), `ti-cluster-${port}-`));
      nodes.push({ port, dir, url: `redis://127.0.0.1:${port}`, server: await startNode(port, dir) });
    }
    await run(
      'redis-cli',
      ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', '0', '--cluster-yes'],
      { timeout: 30_000 },
    );
    await waitClusterOk(nodes.map((n) => n.port));
  } catch (error) {
    await stop();
    throw error;
  }
  const node = (i: number): ClusterNode => {
    const n = nodes[i];
    if (n === undefined) throw new Error(`no cluster node ${i}`);
    return n;
  };
  return {
    nodes,
    seeds: nodes.map((n) => n.url).join(','),
    async kill(i) {
      const { process: child } = node(i).server;
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGKILL');
      await exited;
    },
    async restart(i) {
      const n = node(i);
      n.server = await startNode(n.port, n.dir);
      await waitClusterOk(nodes.map((m) => m.port));
    },
    nodeClient: (i) => new Redis({ port: node(i).port, host: '127.0.0.1', maxRetriesPerRequest: null }),
    stop,
  };
}
