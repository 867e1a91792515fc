/**
 * Lua scripts of the visitor store. Each runs atomically in Redis, so any number of map
 * workers and flushers can act on the same visitor without interleaving. Every key a script
 * touches is built from the hash-tagged root of one shard (ARGV root: `{prefix}` with one
 * shard), so one script stays in one slot. Each call declares exactly one key, KEYS[1] =
 * `<root>:due` (the shard's due index): a Redis Cluster client routes the call by it to the
 * node that owns the shard's slot, where all the other keys the script builds live too.
 * Layout and the stamp format are described in src/redis/keys.ts.
 */

/**
 * `newer(a, b)`: is stamp a later than stamp b (b may be false)? Event time first, then the
 * event id byte by byte. Lua's own string `<` follows the server's locale (strcoll), so it
 * cannot be trusted to order ids the same way everywhere.
 */
const NEWER = `
local function newer(a, b)
  if not b then return true end
  local ta, tb = tonumber(string.sub(a, 1, 15)), tonumber(string.sub(b, 1, 15))
  if ta ~= tb then return ta > tb end
  local la, lb = #a, #b
  for k = 17, math.min(la, lb) do
    local ca, cb = string.byte(a, k), string.byte(b, k)
    if ca ~= cb then return ca > cb end
  end
  return la > lb
end

-- Sources of the values a visitor holds (_src: comma-separated, distinct, bounded), so a
-- failed delivery can say which producers sent them.
local function addSources(list, more)
  if not more then return list end
  if not list then return more end
  for one in string.gmatch(more, '[^,]+') do
    if #list < 200 and not string.find(',' .. list .. ',', ',' .. one .. ',', 1, true) then list = list .. ',' .. one end
  end
  return list
end
`;

/**
 * Merge a batch of mapped events (one call per job batch).
 * ARGV: root, source, now, dedupeMs, windowMs, batchId, n, receivedAt, marker generation,
 * then per event: vk, id, marker bucket, marker TTL (ms), stamp, attrCount, name1, value1, ...
 * Event-id markers are fields `<source>:<id>` of generation × bucket hashes, looked up in
 * this generation and the previous one (layout and expiry: src/coalesce/markers.ts).
 * `receivedAt` (when intake stored the batch) is kept per visitor as `_in`, the earliest
 * intake time of the values it holds, for the intake → delivered histogram.
 * Returns one code per event: 1 applied, 0 duplicate (seen within the dedupe window),
 * 2 late (every attribute older than what Target already holds: dropped),
 * 3 superseded (newer values already pending or in flight: nothing to change),
 * 4 replayed (the whole batch was merged before: see below).
 * The dedupe decision and the merge are one atomic step (P2). A non-empty batchId (the
 * ingest job id) is remembered for the dedupe window once merged: a job that runs again
 * because its worker died after the merge (which was all or nothing) changes nothing and is
 * counted as replayed, not as a batch of duplicates, so duplicate counts stay exact.
 * A visitor becomes due `windowMs` after its first pending change (ZADD NX: later events
 * never push it back), so a pending visitor never waits longer than the window.
 */
export const MERGE_EVENTS = `${NEWER}
local root, source = ARGV[1], ARGV[2]
local now, dedupeMs, windowMs = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
local batch, n, receivedAt, generation = ARGV[6], tonumber(ARGV[7]), ARGV[8], tonumber(ARGV[9])
local due, stats = KEYS[1], root .. ':stats'
local markers = root .. ':seen:' .. string.format('%d', generation) .. ':'
local previous = root .. ':seen:' .. string.format('%d', generation - 1) .. ':'
local touched = {}
local out = {}
if batch ~= '' then
  local batchKey = root .. ':merged:' .. batch
  if redis.call('EXISTS', batchKey) == 1 then
    for e = 1, n do out[e] = 4 end
    if n > 0 then redis.call('HINCRBY', stats, 'events_replayed', n) end
    return out
  end
end
local i = 10
local counts = { 0, 0, 0, 0 }
for e = 1, n do
  local vk, id, bucket, ttl, st, na = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], tonumber(ARGV[i + 5])
  i = i + 6
  local field = source .. ':' .. id
  local code
  if redis.call('HGET', markers .. bucket, field) == 'a' or redis.call('HGET', previous .. bucket, field) == 'a' then
    code = 0
    i = i + 2 * na
  else
    local vp, vf, vd = root .. ':vp:' .. vk, root .. ':vf:' .. vk, root .. ':vd:' .. vk
    -- Three HMGETs read every stamp this event is compared with (delivered, pending, in
    -- flight), instead of three HGETs per attribute; one HSET writes what it wins.
    local names, snames = {}, {}
    for k = 1, na do
      names[k] = ARGV[i + 2 * k - 2]
      snames[k] = 's:' .. names[k]
    end
    local writes, late = {}, false
    if na > 0 then
      local delivered = redis.call('HMGET', vd, unpack(names))
      local flight = redis.call('HMGET', vf, unpack(snames))
      snames[na + 1], snames[na + 2] = '_in', '_src'
      local pending = redis.call('HMGET', vp, unpack(snames))
      for k = 1, na do
        if not newer(st, delivered[k]) then
          late = true
        elseif newer(st, pending[k]) and newer(st, flight[k]) then
          writes[#writes + 1] = 'v:' .. names[k]
          writes[#writes + 1] = ARGV[i + 2 * k - 1]
          writes[#writes + 1] = snames[k]
          writes[#writes + 1] = st
        end
      end
      if #writes > 0 then
        if not pending[na + 1] then
          writes[#writes + 1] = '_in'
          writes[#writes + 1] = receivedAt
        end
        local src = pending[na + 2] or nil
        local merged = addSources(src, source)
        if merged ~= src then
          writes[#writes + 1] = '_src'
          writes[#writes + 1] = merged
        end
      end
    end
    i = i + 2 * na
    if #writes > 0 then
      redis.call('HSET', vp, unpack(writes))
      redis.call('ZADD', due, 'NX', now + windowMs, vk)
      code = 1
    elseif late then
      code = 2
    else
      code = 3
    end
    -- The id is marked only once its values are in: an error before this leaves it unmarked,
    -- so the retry merges it instead of calling it a duplicate.
    redis.call('HSET', markers .. bucket, field, 'a')
    touched[bucket] = ttl
  end
  out[e] = code
  counts[code + 1] = counts[code + 1] + 1
end
for bucket, ttl in pairs(touched) do redis.call('PEXPIRE', markers .. bucket, ttl) end
-- The batch counts as merged only once every event is: Redis does not roll a script back,
-- so an error part way (a marker set first) would make the retry report the rest as
-- replayed and drop them. Events merged before such an error are duplicates on the retry.
if batch ~= '' then redis.call('SET', root .. ':merged:' .. batch, '1', 'PX', dedupeMs) end
if counts[1] > 0 then redis.call('HINCRBY', stats, 'events_duplicate', counts[1]) end
if counts[2] > 0 then redis.call('HINCRBY', stats, 'events_applied', counts[2]) end
if counts[3] > 0 then redis.call('HINCRBY', stats, 'events_late_dropped', counts[3]) end
if counts[4] > 0 then redis.call('HINCRBY', stats, 'events_superseded', counts[4]) end
return out
`;

/**
 * Claim due visitors: move each one's pending hash to its in-flight hash under a claim id
 * and give it a lease. A visitor already in flight is skipped (held) and leaves the due
 * index; the end of its delivery puts it back (one delivery per visitor at a time: P4), and
 * until then every attempt of that delivery folds its pending values in (SNAPSHOT_CLAIM).
 * Held visitors do not count against `limit`: the scan goes on past them (up to 3 × limit,
 * at most 1,000, extra entries per call, to keep the script short) so a crowd of held
 * visitors at the head of the index cannot starve due ones behind it.
 * ARGV: root, now, limit, leaseMs, claimId. Returns the claimed visitor keys.
 */
export const CLAIM_DUE = `
local root, now, limit, leaseMs, claimId = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local due, leases = KEYS[1], root .. ':leases'
local out = {}
local budget = limit + math.min(limit * 3, 1000)
while #out < limit and budget > 0 do
  local vks = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, math.min(limit - #out, budget))
  if #vks == 0 then break end
  for _, vk in ipairs(vks) do
    budget = budget - 1
    redis.call('ZREM', due, vk)
    local vf, vp = root .. ':vf:' .. vk, root .. ':vp:' .. vk
    if redis.call('EXISTS', vf) == 0 and redis.call('EXISTS', vp) == 1 then
      redis.call('RENAME', vp, vf)
      redis.call('HSET', vf, '_claim', claimId)
      redis.call('ZADD', leases, now + leaseMs, vk)
      out[#out + 1] = vk
    end
  end
end
return out
`;

/**
 * Snapshot what a delivery should send now: first fold in any newer pending values (so a
 * retry sends the newest values and an old value can never follow a new one: P4), then
 * renew the lease and return the in-flight hash. Visitors no longer held by this claim
 * (delivered, or taken back after a lease expired) come back as an empty list.
 * With freeze = 1 (bulk delivery) the in-flight hash is marked `_sent` and never folds
 * again for this claim: a bulk file may be with Target until its batch status says
 * `complete`, and the status poll acks the in-flight stamps, so they must be the ones in
 * the file even when the delivery job ran twice (a crash after its submit, or a stall).
 * Newer values wait in the pending hash and become due when the claim is acked.
 * With freeze, the values last delivered for the visitor (`v:<name>` of its delivered hash)
 * follow as `d:<name>` fields: a v2 row must carry them all (the v2 override, docs/target.md).
 * ARGV: root, claimId, now, leaseMs, freeze (0/1), vk1, vk2, ... Returns one flat HGETALL
 * per visitor.
 */
export const SNAPSHOT_CLAIM = `${NEWER}
local root, claimId, now, leaseMs, freeze = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1'
local out = {}
for a = 6, #ARGV do
  local vk = ARGV[a]
  local vf, vp = root .. ':vf:' .. vk, root .. ':vp:' .. vk
  if redis.call('HGET', vf, '_claim') ~= claimId then
    out[#out + 1] = {}
  else
    local pending = {}
    if redis.call('HEXISTS', vf, '_sent') == 0 then pending = redis.call('HGETALL', vp) end
    for k = 1, #pending, 2 do
      local f = pending[k]
      if string.sub(f, 1, 2) == 's:' and newer(pending[k + 1], redis.call('HGET', vf, f)) then
        local name = string.sub(f, 3)
        redis.call('HSET', vf, f, pending[k + 1], 'v:' .. name, redis.call('HGET', vp, 'v:' .. name))
      end
    end
    if #pending > 0 then
      local pin = redis.call('HGET', vp, '_in')
      if pin then redis.call('HSETNX', vf, '_in', pin) end
      local held = redis.call('HGET', vf, '_src')
      local merged = addSources(held, redis.call('HGET', vp, '_src'))
      if merged and merged ~= held then redis.call('HSET', vf, '_src', merged) end
      redis.call('DEL', vp)
      redis.call('ZREM', KEYS[1], vk)
    end
    if freeze then redis.call('HSET', vf, '_sent', '1') end
    redis.call('ZADD', root .. ':leases', now + leaseMs, vk)
    local flat = redis.call('HGETALL', vf)
    if freeze then
      -- A bulk row carries every value delivered before (the v2 override), as d:<name> fields.
      local kept = redis.call('HGETALL', root .. ':vd:' .. vk)
      for k = 1, #kept, 2 do
        if string.sub(kept[k], 1, 2) == 'v:' then
          flat[#flat + 1] = 'd:' .. string.sub(kept[k], 3)
          flat[#flat + 1] = kept[k + 1]
        end
      end
    end
    out[#out + 1] = flat
  end
end
return out
`;

/**
 * Record a visitor's accepted delivery. ARGV: root, claimId, now, retentionMs, vk, created
 * ('1': a bulk v2 row that completed, which creates or renews the profile at Target; then
 * the visitor's `:at` is set to now), then name/stamp/value triples actually sent. Each sent attribute's stamp becomes the
 * delivered stamp (field `<name>`) and its value the delivered value (field `v:<name>`,
 * kept as long as the stamp, so a later v2 row can carry it again); it leaves the in-flight
 * hash only if no newer value was folded in meanwhile.
 * Returns 1 when the visitor is done (claim released), 2 when newer values remain in flight
 * for this claim (send again), 0 when the claim is no longer ours.
 */
export const ACK_DELIVERED = `${NEWER}
local root, claimId, now, retentionMs, vk = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local vf, vd = root .. ':vf:' .. vk, root .. ':vd:' .. vk
local mine = redis.call('HGET', vf, '_claim') == claimId
for a = 7, #ARGV, 3 do
  local name, st = ARGV[a], ARGV[a + 1]
  if newer(st, redis.call('HGET', vd, name)) then redis.call('HSET', vd, name, st, 'v:' .. name, ARGV[a + 2]) end
  if mine and redis.call('HGET', vf, 's:' .. name) == st then redis.call('HDEL', vf, 's:' .. name, 'v:' .. name) end
end
-- When a v2 row last created or renewed this visitor's profile (':' never starts an
-- attribute name). Only a v2 row counts: a single update to a profile Target dropped answers
-- success and stores nothing, so it proves nothing; past the lifetime the visitor is unknown.
if ARGV[6] == '1' and #ARGV >= 7 then redis.call('HSET', vd, ':at', now) end
redis.call('PEXPIRE', vd, retentionMs)
if not mine then return 0 end
-- Attributes left (newer values folded in meanwhile); bookkeeping fields start with '_'.
for _, f in ipairs(redis.call('HKEYS', vf)) do
  if string.sub(f, 1, 2) == 's:' then return 2 end
end
redis.call('DEL', vf)
redis.call('ZREM', root .. ':leases', vk)
if redis.call('EXISTS', root .. ':vp:' .. vk) == 1 then redis.call('ZADD', KEYS[1], 'NX', now, vk) end
return 1
`;

/**
 * Let go of visitors whose delivery failed for good (their values went to the dead-letter
 * queue). Newer pending values stay and become due at once. ARGV: root, claimId, now, vk...
 * Returns how many were released.
 */
export const RELEASE_CLAIM = `
local root, claimId, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local released = 0
for a = 4, #ARGV do
  local vk = ARGV[a]
  local vf = root .. ':vf:' .. vk
  if redis.call('HGET', vf, '_claim') == claimId then
    redis.call('DEL', vf)
    redis.call('ZREM', root .. ':leases', vk)
    if redis.call('EXISTS', root .. ':vp:' .. vk) == 1 then redis.call('ZADD', KEYS[1], 'NX', now, vk) end
    released = released + 1
  end
end
return released
`;

/**
 * Leases that ran out: ARGV root, now, limit. Returns flat [vk, claimId, ...] so the caller
 * can check whether the claim's delivery job still exists.
 */
export const EXPIRED_LEASES = `
local root, now, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local vks = redis.call('ZRANGEBYSCORE', root .. ':leases', '-inf', now, 'LIMIT', 0, limit)
local out = {}
for _, vk in ipairs(vks) do
  local claim = redis.call('HGET', root .. ':vf:' .. vk, '_claim')
  out[#out + 1] = vk
  out[#out + 1] = claim or ''
end
return out
`;

/**
 * Move a visitor whose lease expired to a new claim (or renew it). Atomic compare-and-set on
 * the claim id, so two flushers sweeping at once cannot both take it.
 * ARGV: root, vk, oldClaim, newClaim, now, leaseMs, thaw (optional, '1': the new claim may
 * fold in newer values again, see SNAPSHOT_CLAIM; used when a bulk claim hands values no
 * bulk file may carry to single delivery). Returns 1 if switched.
 * When the in-flight hash is gone (delivered meanwhile) the stale lease is dropped.
 */
export const RENEW_LEASE = `
local root, vk, oldClaim, newClaim, now, leaseMs = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local vf = root .. ':vf:' .. vk
local claim = redis.call('HGET', vf, '_claim')
if not claim then
  redis.call('ZREM', root .. ':leases', vk)
  return 0
end
if claim ~= oldClaim then return 0 end
redis.call('HSET', vf, '_claim', newClaim)
if ARGV[7] == '1' then redis.call('HDEL', vf, '_sent') end
redis.call('ZADD', root .. ':leases', now + leaseMs, vk)
return 1
`;

/**
 * Put dead-lettered values back for delivery (dlq replay), with the stamps they had, so the
 * normal rules still hold: a value older than what Target holds, or than what is pending or
 * in flight, is skipped (P3/P4). No dedupe marker is involved: these values were merged once.
 * ARGV: root, now, windowMs, vk, then name, value, stamp triples. Returns how many were restored.
 */
export const RESTORE_VALUES = `${NEWER}
local root, now, windowMs, vk = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local vp, vf, vd = root .. ':vp:' .. vk, root .. ':vf:' .. vk, root .. ':vd:' .. vk
local restored = 0
for a = 5, #ARGV, 3 do
  local name, value, st = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local sname = 's:' .. name
  if newer(st, redis.call('HGET', vd, name)) and newer(st, redis.call('HGET', vp, sname)) and newer(st, redis.call('HGET', vf, sname)) then
    redis.call('HSET', vp, 'v:' .. name, value, sname, st)
    restored = restored + 1
  end
end
if restored > 0 then
  redis.call('HSETNX', vp, '_in', now)
  redis.call('ZADD', root .. ':due', 'NX', now + windowMs, vk)
end
return restored
`;

/**
 * Hand claimed visitors back, values and all (nothing was sent): their in-flight values go
 * back into the pending hash (newer pending values win), the lease goes, and they are due
 * again at `dueAt`. Used when a claim's bulk share must wait for room in the bulk budget, so
 * visitors gather into fewer, larger bulk files instead of many small ones.
 * KEYS[1]: the shard's due index. ARGV: root, claimId, dueAt, vk... Returns how many.
 */
export const UNCLAIM = `${NEWER}
local root, claimId, dueAt = ARGV[1], ARGV[2], tonumber(ARGV[3])
local n = 0
for a = 4, #ARGV do
  local vk = ARGV[a]
  local vf, vp = root .. ':vf:' .. vk, root .. ':vp:' .. vk
  if redis.call('HGET', vf, '_claim') == claimId then
    local held = redis.call('HGETALL', vf)
    for k = 1, #held, 2 do
      local f = held[k]
      if string.sub(f, 1, 2) == 's:' and newer(held[k + 1], redis.call('HGET', vp, f)) then
        local name = string.sub(f, 3)
        redis.call('HSET', vp, f, held[k + 1], 'v:' .. name, redis.call('HGET', vf, 'v:' .. name))
      end
    end
    local held_in, pending_in = redis.call('HGET', vf, '_in'), redis.call('HGET', vp, '_in')
    if held_in and (not pending_in or tonumber(held_in) < tonumber(pending_in)) then redis.call('HSET', vp, '_in', held_in) end
    local pending_src = redis.call('HGET', vp, '_src')
    local merged = addSources(pending_src, redis.call('HGET', vf, '_src'))
    if merged and merged ~= pending_src then redis.call('HSET', vp, '_src', merged) end
    redis.call('DEL', vf)
    redis.call('ZREM', root .. ':leases', vk)
    redis.call('ZADD', KEYS[1], dueAt, vk)
    n = n + 1
  end
end
return n
`;

/**
 * Intake's marker lookup for one shard: is each id taken in or applied (a field in this
 * generation's or the previous generation's bucket hash)? ARGV: root, generation, then per
 * id: bucket, field. Returns 1 (seen) or 0 per id.
 */
export const MARKS_SEEN = `
local root, generation = ARGV[1], tonumber(ARGV[2])
local current = root .. ':seen:' .. string.format('%d', generation) .. ':'
local previous = root .. ':seen:' .. string.format('%d', generation - 1) .. ':'
local out = {}
for a = 3, #ARGV, 2 do
  local bucket, field = ARGV[a], ARGV[a + 1]
  out[#out + 1] = (redis.call('HEXISTS', current .. bucket, field) == 1 or redis.call('HEXISTS', previous .. bucket, field) == 1) and 1 or 0
end
return out
`;

/**
 * Intake marks ids taken in (`t`) in this generation, never overwriting a merge's `a`.
 * ARGV: root, generation, then per id: bucket, field, TTL of the bucket's hash (ms).
 */
export const MARKS_TAKE = `
local root, generation = ARGV[1], tonumber(ARGV[2])
local current = root .. ':seen:' .. string.format('%d', generation) .. ':'
local touched = {}
for a = 3, #ARGV, 3 do
  local bucket = ARGV[a]
  redis.call('HSETNX', current .. bucket, ARGV[a + 1], 't')
  touched[bucket] = ARGV[a + 2]
end
for bucket, ttl in pairs(touched) do redis.call('PEXPIRE', current .. bucket, ttl) end
return 1
`;
