/**
 * Partitioning of the visitor store (pure functions, no IO).
 *
 * With `REDIS_SHARDS=N` (default 1) the visitor store and its due index are split into N
 * shards. Shard k's keys share one hash tag, so every store script still runs on one slot,
 * while the N shards can live on N different Redis Cluster masters. A visitor's shard is a
 * stable hash of its visitor key; its dedupe and merged-batch markers live in that shard
 * too, so dedupe and merge stay one atomic script.
 *
 * N = 1 is the single-node layout: shard 0's tag is `{prefix}`, the tag of the queues.
 */

/** Slots of a Redis Cluster. */
export const CLUSTER_SLOTS = 16384;

/** FNV-1a's offset basis: the hash of the empty text. */
export const FNV1A_EMPTY = 0x811c9dc5;

/**
 * 32-bit FNV-1a over the UTF-8 bytes of `text` (a lone surrogate counts as U+FFFD, as
 * `Buffer.from` encodes it). From `seed`, the hash of a text `a`, it returns the hash of
 * `a + text`, so a common prefix is hashed once. Encodes as it goes: intake hashes every
 * event id, and a Buffer per id was a tenth of its garbage.
 */
export function fnv1a(text: string, seed = FNV1A_EMPTY): number {
  let hash = seed;
  for (let i = 0; i < text.length; i += 1) {
    let code = text.charCodeAt(i);
    if (code < 0x80) {
      hash = Math.imul(hash ^ code, 0x01000193);
      continue;
    }
    if (code >= 0xd800 && code <= 0xdfff) {
      const low = code <= 0xdbff ? text.charCodeAt(i + 1) : NaN;
      if (low >= 0xdc00 && low <= 0xdfff) {
        code = 0x10000 + ((code - 0xd800) << 10) + (low - 0xdc00);
        i += 1;
      } else {
        code = 0xfffd;
      }
    }
    if (code < 0x800) {
      hash = Math.imul(hash ^ (0xc0 | (code >> 6)), 0x01000193);
    } else {
      if (code < 0x10000) {
        hash = Math.imul(hash ^ (0xe0 | (code >> 12)), 0x01000193);
      } else {
        hash = Math.imul(hash ^ (0xf0 | (code >> 18)), 0x01000193);
        hash = Math.imul(hash ^ (0x80 | ((code >> 12) & 0x3f)), 0x01000193);
      }
      hash = Math.imul(hash ^ (0x80 | ((code >> 6) & 0x3f)), 0x01000193);
    }
    hash = Math.imul(hash ^ (0x80 | (code & 0x3f)), 0x01000193);
  }
  return hash >>> 0;
}

/** The shard (0 … shards-1) of a visitor key; always 0 when there is one shard. */
export function shardOf(vk: string, shards: number): number {
  return shards <= 1 ? 0 : fnv1a(vk) % shards;
}

/** CRC16/XMODEM, the checksum Redis Cluster hashes keys with. */
function crc16(bytes: Buffer): number {
  let crc = 0;
  for (const byte of bytes) {
    crc ^= byte << 8;
    for (let bit = 0; bit < 8; bit += 1) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The cluster slot of a key, as `CLUSTER KEYSLOT` computes it (hash tags included). */
export function clusterKeySlot(key: string): number {
  const open = key.indexOf('{');
  let hashed = key;
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) hashed = key.slice(open + 1, close);
  }
  return crc16(Buffer.from(hashed, 'utf8')) % CLUSTER_SLOTS;
}

/**
 * The hash-tag text of shard `shard` of `shards`. For one shard: the prefix itself. Else
 * `<prefix>:s<shard>.<j>`, with the smallest j that puts the tag's slot in the middle half of
 * the shard's equal slice of the slot space (slice k = [k·16384/N, (k+1)·16384/N)). A
 * cluster whose slots are split evenly among N masters (what `redis-cli --cluster create`
 * does) therefore holds each shard on its own master, whatever the prefix.
 */
export function shardTag(prefix: string, shard: number, shards: number): string {
  if (shards <= 1) return prefix;
  const width = CLUSTER_SLOTS / shards;
  const low = shard * width + width / 4;
  const high = (shard + 1) * width - width / 4;
  for (let j = 0; ; j += 1) {
    const tag = `${prefix}:s${shard}.${j}`;
    const slot = clusterKeySlot(tag);
    if (slot >= low && slot < high) return tag;
  }
}

/** Groups items by the shard of their visitor key, keeping input order within a shard. */
export function groupByShard<T>(
  items: readonly T[],
  vkOf: (item: T) => string,
  shards: number,
): Map<number, Array<{ item: T; index: number }>> {
  const groups = new Map<number, Array<{ item: T; index: number }>>();
  items.forEach((item, index) => {
    const shard = shardOf(vkOf(item), shards);
    const group = groups.get(shard);
    if (group === undefined) groups.set(shard, [{ item, index }]);
    else group.push({ item, index });
  });
  return groups;
}
