import { loadLua } from '../redis/lua-source.js';

/**
 * Lua scripts of the visitor store, read from src/coalesce/lua/ (each file's header names
 * its KEYS, ARGV and return values). Each runs atomically in Redis, so any number of map
 * workers and flushers can act on the same visitor without interleaving. Every key a script
 * touches is built from the hash-tagged root of one shard (ARGV root: `{prefix}` with one
 * shard), so one script stays in one slot. Each call declares exactly one key, KEYS[1] =
 * `<root>:due` (the shard's due index): a Redis Cluster client routes the call by it to the
 * node that owns the shard's slot, where all the other keys the script builds live too.
 * Layout and the stamp format are described in src/redis/keys.ts.
 */
function script(name: string): string {
  return loadLua(new URL(`./lua/${name}.lua`, import.meta.url));
}

export const MERGE_EVENTS = script('merge-events');
export const CLAIM_DUE = script('claim-due');
export const SNAPSHOT_CLAIM = script('snapshot-claim');
export const ACK_DELIVERED = script('ack-delivered');
export const RELEASE_CLAIM = script('release-claim');
export const EXPIRED_LEASES = script('expired-leases');
export const RENEW_LEASE = script('renew-lease');
export const RESTORE_VALUES = script('restore-values');
export const RESEND_DELIVERED = script('resend-delivered');
export const UNCLAIM = script('unclaim');
export const MARKS_SEEN = script('marks-seen');
export const MARKS_TAKE = script('marks-take');
export const MARKS_CLAIM = script('marks-claim');
export const FORGET_VISITOR = script('forget-visitor');
