--[[
  Merge a batch of mapped events (one call per part of a job's batch and shard: about 100
  events, each visitor's events in one part; mergeChunks in src/coalesce/store.ts).
  Event-id markers are fields `<source>:<id>` of generation × bucket hashes, looked up in
  this generation and the previous one (layout and expiry: src/coalesce/markers.ts). The
  merge writes `a<code><receivedAt>|<occurredAt>|<visitor key>` (times in base 36 ms, the
  code one digit): any value starting with `a` means applied (the dedupe decision); the rest
  is the event's lineage, read by parseMarker in src/lineage/lineage.ts (intake's markers, `t`
  or the number of an ingest job, mean taken in, not merged yet).
  The dedupe decision and the merge are one atomic step (P2). A non-empty batch id (the
  ingest job id and `#` and a digest of the part's event ids: mergePartBatchId in
  src/coalesce/store.ts) is remembered for the dedupe window once merged: a job that runs again
  because its worker died after this call (which is all or nothing) changes nothing and is
  counted as replayed, not as a batch of duplicates, so duplicate counts stay exact.
  A visitor becomes due `windowMs` after its first pending change (ZADD NX: later events
  never push it back), so a pending visitor never waits longer than the window.
  `receivedAt` (when intake stored the batch) is kept per visitor as `_in`, the earliest
  intake time of the values it holds, for the intake → delivered histogram.

  Input:
    KEYS[1] the shard's due index

    ARGV[1] root (hash-tagged root of the shard)
    ARGV[2] source
    ARGV[3] now (ms)
    ARGV[4] dedupe window (ms)
    ARGV[5] coalescing window (ms)
    ARGV[6] batch id ('': none)
    ARGV[7] n, the number of events
    ARGV[8] receivedAt (ms)
    ARGV[9] marker generation
    then per event: visitor key, marker field (`<source>:<event id>`), marker bucket,
      marker TTL (ms), stamp, occurredAt (ms, in base 36: the marker's copy, made by the
      client, which does it cheaper than Lua), attribute count, then name, value per
      attribute

  Output: one code per event
    0 duplicate  (seen within the dedupe window)
    1 applied
    2 late       (every attribute older than what Target already holds: dropped)
    3 superseded (newer values already pending or in flight: nothing to change)
    4 replayed   (the whole batch was merged before)
    5 suppressed (the visitor was forgotten: dropped, src/erasure/forget.ts)
]]
--- @include "includes/newer"
--- @include "includes/add-sources"
--- @include "includes/suppressed"
--- @include "includes/base36"

-- Return codes, named as in src/coalesce/script-codes.ts (MERGE_CODES).
local DUPLICATE, APPLIED, LATE, SUPERSEDED, REPLAYED, SUPPRESSED = 0, 1, 2, 3, 4, 5
-- The start of an applied marker per outcome (a number made into a string costs a sprintf).
local MARKER_HEAD = { [APPLIED] = 'a1', [LATE] = 'a2', [SUPERSEDED] = 'a3' }
-- No delivered values read: every lookup in it answers nil.
local NONE = {}

local root, source = ARGV[1], ARGV[2]
local now, dedupeMs, windowMs = tonumber(ARGV[3]), ARGV[4], tonumber(ARGV[5])
-- When a visitor first changed by this call becomes due, formatted once (a Lua number is
-- formatted anew for each command it is passed to).
local dueAt = string.format('%d', now + windowMs)
local batch, n, receivedAt, generation = ARGV[6], tonumber(ARGV[7]), ARGV[8], tonumber(ARGV[9])
local due, stats = KEYS[1], root .. ':stats'
local markers = root .. ':seen:' .. string.format('%d', generation) .. ':'
local previous = root .. ':seen:' .. string.format('%d', generation - 1) .. ':'
local touched = {}
local received36 = base36(tonumber(receivedAt))
local function applied(marker) return marker and string.byte(marker, 1) == 97 end -- 'a'
-- Intake's own marker for this job (job `intake-<n>` has its ids marked `n`, marks-claim.lua),
-- which it wrote only after finding no marker that counts in the previous generation. So an
-- id still marked `n` in this generation needs no second lookup there (one HGET per event
-- less), provided no merge writes its `a` for the id into the previous generation after
-- that. Merges of intake's jobs cannot (intake took the id in only once). A merge of any
-- other batch (a replayed dead letter, several shards, no batch id) may, when its `now` is
-- a generation behind intake's (the call waited out a reconnect across the boundary): it
-- therefore also looks the id up in the generation after its own, and where intake marked
-- the id there, writes its `a` there too, so that the job's own merge finds it (P2).
-- The map passes `<job id>@<job timestamp>` (src/map/processor.ts).
local own = string.match(batch, '^intake%-(%d+)@') or string.match(batch, '^intake%-(%d+)$')
local following = root .. ':seen:' .. string.format('%d', generation + 1) .. ':'
local out = {}
if batch ~= '' then
  local batchKey = root .. ':merged:' .. batch
  if redis.call('EXISTS', batchKey) == 1 then
    for e = 1, n do out[e] = REPLAYED end
    if n > 0 then redis.call('HINCRBY', stats, 'events_replayed', n) end
    return out
  end
end
local counts = { [DUPLICATE] = 0, [APPLIED] = 0, [LATE] = 0, [SUPERSEDED] = 0, [SUPPRESSED] = 0 }
local isSuppressed = suppression(root, now)
-- Pass 1, the dedupe decision of every event: forgotten, merged before (a marker `a`), or a
-- second copy of an id earlier in this call; and, among the events that stay, the newest per
-- visitor and attribute. An older value of the same call could only lose to it, so it is
-- not read against the hashes at all (a Zipf batch holds its busiest visitors dozens of
-- times). Only events that can apply take part: a resend the markers call a duplicate must
-- not knock out an older event's value (P3).
-- Per event, in parallel arrays (a table per event cost more than the rest of this pass):
-- visitor key, marker field, marker bucket, marker TTL, stamp, occurredAt in base 36 (for
-- the marker), attribute count, index of its first attribute name in ARGV and outcome; for
-- an event that reached the marker lookup also its marker key (this generation's hash of
-- its bucket) and the markers read (pass 2 visits only those events).
local evVk, evField, evKey, evTtl, evSt, evOcc, evNa, evAt, evCode, evCurrent, evAhead, evBucket =
  {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {}
-- inCall: the ids of this call that stay; newest[vk][name]: the event whose value of the
-- attribute wins within the call (one table per visitor, no key string per attribute).
local inCall, newest = {}, {}
local i = 10
for e = 1, n do
  local vk, field, bucket, st, na = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 4], tonumber(ARGV[i + 6])
  local at = i + 7
  evVk[e], evField[e], evBucket[e], evTtl[e], evSt[e], evOcc[e], evNa[e], evAt[e] =
    vk, field, bucket, ARGV[i + 3], st, ARGV[i + 5], na, at
  i = at + 2 * na
  if isSuppressed(vk) then
    -- Forgotten: nothing of it is stored, not even its event id.
    evCode[e] = SUPPRESSED
  elseif inCall[field] then
    evCode[e] = DUPLICATE
  else
    local key = markers .. bucket
    evKey[e] = key
    local current = redis.call('HGET', key, field)
    evCurrent[e] = current
    local mine = own ~= nil and current == own
    local ahead = false
    if not own then
      ahead = redis.call('HGET', following .. bucket, field)
      evAhead[e] = ahead
    end
    if applied(current) or applied(ahead) or (not mine and applied(redis.call('HGET', previous .. bucket, field))) then
      evCode[e] = DUPLICATE
    else
      inCall[field] = true
      local nv = newest[vk]
      if not nv then
        nv = {}
        newest[vk] = nv
      end
      for k = at, at + 2 * na - 2, 2 do
        local name = ARGV[k]
        local w = nv[name]
        if not w or newer(st, evSt[w]) then nv[name] = e end
      end
    end
  end
end
-- Pass 2, visitor by visitor (in order of first appearance): one HMGET of each of its three
-- hashes for every attribute its events can still set, one HSET, a ZADD unless it is held
-- (pending while a delivery of it is in flight), then the markers of its events. Pass 1 left each attribute of a visitor to at most one event of the call,
-- so its events never compare with each other's writes.
-- Each visitor's events as a list threaded through `nextOf` (no table per visitor); the
-- tables below are reused from visitor to visitor, read up to their current length only:
-- Lua's allocations and garbage collection were the larger part of this pass.
local firstOf, lastOf, nextOf, order = {}, {}, {}, {}
for e = 1, n do
  if not evCode[e] then
    local vk = evVk[e]
    local last = lastOf[vk]
    if last then
      nextOf[last] = e
    else
      firstOf[vk] = e
      order[#order + 1] = vk
    end
    lastOf[vk] = e
  end
end
local names, snames, values, owner, writes = {}, {}, {}, {}, {}
-- wins[e], lates[e]: per event, and each event belongs to one visitor, so one table serves all.
local wins, lates = {}, {}
for _, vk in ipairs(order) do
  local nv = newest[vk]
  local vp = root .. ':vp:' .. vk
  local na, nw = 0, 0
  local e = firstOf[vk]
  while e do
    local at = evAt[e]
    for k = at, at + 2 * evNa[e] - 2, 2 do
      local name = ARGV[k]
      if nv[name] == e then
        na = na + 1
        names[na] = name
        snames[na] = 's:' .. name
        values[na] = ARGV[k + 1]
        owner[na] = e
      end
    end
    e = nextOf[e]
  end
  local held = false
  if na > 0 then
    snames[na + 1], snames[na + 2] = '_in', '_src'
    local pending = redis.call('HMGET', vp, unpack(snames, 1, na + 2))
    snames[na + 1] = '_claim'
    local flight = redis.call('HMGET', root .. ':vf:' .. vk, unpack(snames, 1, na + 1))
    -- A pending stamp is newer than the delivered one of its attribute (it was written only
    -- if newer, and a delivery records only stamps that were in flight, which are older than
    -- any pending one: claims and folds take the pending hash whole). So when every attribute
    -- is pending, the pending stamps decide alone and the delivered hash is not read (one
    -- HMGET less for the visitors a burst sends most events for); an event older than them
    -- counts as superseded, whether or not Target already holds something newer.
    local delivered = NONE
    for k = 1, na do
      if not pending[k] then
        delivered = redis.call('HMGET', root .. ':vd:' .. vk, unpack(names, 1, na))
        break
      end
    end
    -- Pending and in flight: held, the end of its delivery makes it due. Pending and not in
    -- flight: due already (ZADD NX changes nothing), unless something took it off the index
    -- without claiming it, which the ZADD then mends.
    held = pending[na + 1] ~= false and flight[na + 1] ~= false
    for k = 1, na do
      local w = owner[k]
      local st = evSt[w]
      if not newer(st, delivered[k] or false) then
        lates[w] = true
      elseif newer(st, pending[k]) and newer(st, flight[k]) then
        writes[nw + 1], writes[nw + 2], writes[nw + 3], writes[nw + 4] = 'v:' .. names[k], values[k], snames[k], st
        nw = nw + 4
        wins[w] = true
      end
    end
    if nw > 0 then
      if not pending[na + 1] then
        writes[nw + 1], writes[nw + 2] = '_in', receivedAt
        nw = nw + 2
      end
      local src = pending[na + 2] or nil
      local merged = addSources(src, source)
      if merged ~= src then
        writes[nw + 1], writes[nw + 2] = '_src', merged
        nw = nw + 2
      end
    end
  end
  if nw > 0 then
    redis.call('HSET', vp, unpack(writes, 1, nw))
    -- A visitor with values pending while one of its deliveries is in flight (held:
    -- claim-due.lua took it off the due index) is made due by the end of that delivery
    -- (ack-delivered, release-claim, unclaim): a ZADD would only re-add it for claim-due to
    -- drop again.
    if not held then redis.call('ZADD', due, 'NX', dueAt, vk) end
  end
  -- The ids are marked only once their values are in: an error before this leaves them
  -- unmarked, so the retry merges them instead of calling them duplicates.
  e = firstOf[vk]
  while e do
    local code = wins[e] and APPLIED or (lates[e] and LATE or SUPERSEDED)
    evCode[e] = code
    local marker = MARKER_HEAD[code] .. received36 .. '|' .. evOcc[e] .. '|' .. vk
    redis.call('HSET', evKey[e], evField[e], marker)
    -- Taken in by intake in the next generation meanwhile (see `own` above): its job's merge
    -- must find this one there. The hash exists, with its expiry, since intake wrote to it.
    if evAhead[e] then redis.call('HSET', following .. evBucket[e], evField[e], marker) end
    -- An id intake marked lives in a hash that already has its expiry (marks-claim.lua sets
    -- it in the same call that creates the field): no PEXPIRE per event for it.
    if not evCurrent[e] then touched[evBucket[e]] = evTtl[e] end
    e = nextOf[e]
  end
end
for e = 1, n do
  local code = evCode[e]
  out[e] = code
  counts[code] = counts[code] + 1
end
for bucket, ttl in pairs(touched) do redis.call('PEXPIRE', markers .. bucket, ttl) end
-- The batch counts as merged only once every event is: Redis does not roll a script back,
-- so an error part way (a marker set first) would make the retry report the rest as
-- replayed and drop them. Events merged before such an error are duplicates on the retry.
if batch ~= '' then redis.call('SET', root .. ':merged:' .. batch, '1', 'PX', dedupeMs) end
if counts[DUPLICATE] > 0 then redis.call('HINCRBY', stats, 'events_duplicate', counts[DUPLICATE]) end
if counts[APPLIED] > 0 then redis.call('HINCRBY', stats, 'events_applied', counts[APPLIED]) end
if counts[LATE] > 0 then redis.call('HINCRBY', stats, 'events_late_dropped', counts[LATE]) end
if counts[SUPERSEDED] > 0 then redis.call('HINCRBY', stats, 'events_superseded', counts[SUPERSEDED]) end
if counts[SUPPRESSED] > 0 then redis.call('HINCRBY', stats, 'events_suppressed', counts[SUPPRESSED]) end
return out
