import { describe, expect, it } from 'vitest';
import { CLUSTER_SLOTS, clusterKeySlot, fnv1a, groupByShard, shardOf, shardTag } from '../../../src/redis/shards.js';
import { storeKeys } from '../../../src/redis/keys.js';

describe('shards of the visitor store', () => {
  it('keeps the single-node layout with one shard', () => {
    expect(shardTag('ti', 0, 1)).toBe('ti');
    expect(storeKeys('ti', 0, 1).pending('pc:1')).toBe(storeKeys('ti').pending('pc:1'));
    expect(storeKeys('ti').due).toBe('{ti}:due');
    expect(shardOf('pc:anything', 1)).toBe(0);
  });

  it("chooses a visitor's shard by FNV-1a of its visitor key, the same everywhere", () => {
    // Reference values of 32-bit FNV-1a.
    expect(fnv1a('')).toBe(0x811c9dc5);
    expect(fnv1a('a')).toBe(0xe40c292c);
    expect(fnv1a('foobar')).toBe(0xbf9cf968);
    expect(shardOf('3p:CRM-88412', 3)).toBe(fnv1a('3p:CRM-88412') % 3);
    const counts = [0, 0, 0];
    for (let i = 0; i < 3000; i += 1) counts[shardOf(`3p:CRM-${i}`, 3)]! += 1;
    for (const n of counts) expect(n).toBeGreaterThan(800);
  });

  it('hashes the UTF-8 bytes as Buffer.from encodes them, and continues from the hash of a prefix', () => {
    const overBytes = (text: string): number => {
      let hash = 0x811c9dc5;
      for (const byte of Buffer.from(text, 'utf8')) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
      return hash;
    };
    const texts = [
      '',
      'pos:e-1',
      'é',
      '€uro',
      '\u{1F600}',
      'a\ud800b',
      'tail\udc00',
      '\udbff\udfff',
      '中文 ids',
      'ß\u0000x',
    ];
    for (const text of texts) expect(fnv1a(text), JSON.stringify(text)).toBe(overBytes(text));
    for (const [a, b] of [
      ['pos:', 'e-1'],
      ['kiosk:', '\u{1F600}x'],
      ['', 'x'],
      ['a\ud800', 'b'],
    ] as const) {
      expect(fnv1a(b, fnv1a(a))).toBe(fnv1a(a + b));
    }
  });

  it('computes cluster slots as CLUSTER KEYSLOT does', () => {
    // Values from Redis' documentation and CLUSTER KEYSLOT.
    expect(clusterKeySlot('123456789')).toBe(12739);
    expect(clusterKeySlot('foo')).toBe(12182);
    expect(clusterKeySlot('{user1000}.following')).toBe(clusterKeySlot('user1000'));
    expect(clusterKeySlot('somekey')).toBe(11058);
  });

  it('gives each of N shards a tag in its own Nth of the slot space, whatever the prefix', () => {
    for (const prefix of ['ti', 'eu-west', 'oracle-1a2b3c4d']) {
      for (const shards of [2, 3, 6]) {
        const width = CLUSTER_SLOTS / shards;
        for (let k = 0; k < shards; k += 1) {
          const tag = shardTag(prefix, k, shards);
          expect(tag.startsWith(`${prefix}:s${k}.`)).toBe(true);
          expect(Math.floor(clusterKeySlot(`{${tag}}:due`) / width)).toBe(k);
          expect(storeKeys(prefix, k, shards).due).toBe(`{${tag}}:due`);
        }
      }
    }
  });

  it('groups items by shard and remembers their positions', () => {
    const vks = ['pc:a', 'pc:b', 'pc:c', 'pc:d', 'pc:e'];
    const groups = groupByShard(vks, (vk) => vk, 3);
    const seen = [...groups.values()]
      .flat()
      .map((g) => g.index)
      .sort();
    expect(seen).toEqual([0, 1, 2, 3, 4]);
    for (const [shard, group] of groups) for (const g of group) expect(shardOf(g.item, 3)).toBe(shard);
  });
});
