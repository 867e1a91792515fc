import type { Redis } from 'ioredis';
import { clusterKeySlot } from '../../src/redis/shards.js';
import type { SpawnedCluster } from './redis-cluster.js';

/** Script calls (`cmdstat_evalsha` + `cmdstat_eval`) a node counted since its last CONFIG RESETSTAT. */
export function scriptCalls(commandstats: string): number {
  let calls = 0;
  for (const name of ['evalsha', 'eval']) {
    const match = new RegExp(`^cmdstat_${name}:calls=(\\d+)`, 'm').exec(commandstats);
    if (match !== null) calls += Number(match[1]);
  }
  return calls;
}

async function eachNode<T>(cluster: SpawnedCluster, act: (client: Redis) => Promise<T>): Promise<T[]> {
  return Promise.all(
    cluster.nodes.map(async (_, i) => {
      const client = cluster.nodeClient(i);
      try {
        return await act(client);
      } finally {
        client.disconnect();
      }
    }),
  );
}

/** Resets INFO commandstats on every node. */
export async function resetCommandStats(cluster: SpawnedCluster): Promise<void> {
  await eachNode(cluster, (client) => client.config('RESETSTAT'));
}

/** Script calls per node, in node order. */
export function scriptCallsPerNode(cluster: SpawnedCluster): Promise<number[]> {
  return eachNode(cluster, async (client) => scriptCalls(await client.info('commandstats')));
}

/** The node (index) that serves the slot of `key`, from CLUSTER SLOTS. */
export async function nodeOfKey(cluster: SpawnedCluster, key: string): Promise<number> {
  const client = cluster.nodeClient(0);
  try {
    const slot = clusterKeySlot(key);
    const ranges = (await client.call('CLUSTER', 'SLOTS')) as Array<[number, number, [string, number, ...unknown[]]]>;
    const owner = ranges.find(([from, to]) => slot >= from && slot <= to);
    const port = owner?.[2][1];
    const index = cluster.nodes.findIndex((n) => n.port === port);
    if (index < 0) throw new Error(`no node serves slot ${slot} of ${key}`);
    return index;
  } finally {
    client.disconnect();
  }
}
