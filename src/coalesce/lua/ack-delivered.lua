--[[
  Record accepted deliveries, for one or more visitors of one claim (one call per chunk of
  a bulk batch, src/coalesce/store.ts, instead of one call each: per visitor that saves the
  script call, the suppression check and the lease ZREM). Each sent attribute's stamp becomes
  the delivered stamp (field `<name>`) and its value the delivered value (field `v:<name>`,
  kept as long as the stamp, so a later v2 row can carry it again); it leaves the in-flight
  hash only if no newer value was folded in meanwhile.

  Input:
    KEYS[1] the shard's due index

    ARGV[1] root
    ARGV[2] claim id
    ARGV[3] now (ms)
    ARGV[4] delivered retention (ms)
    ARGV[5] created ('1': bulk v2 rows that completed, which create or renew the profiles
      at Target; each visitor's `:at` is then set to now)
    ARGV[6] delivery log length kept per visitor
    ARGV[7] delivery log retention (ms)
    ARGV[8] the number of visitors
    then per visitor: visitor key, delivery log entry ('': none, pushed to `<root>:dl:<vk>`,
      src/coalesce/delivery-log.ts), attribute count, then name, stamp, value per attribute
      actually sent

  Output: one code per visitor
    0 lost (the claim is no longer ours)
    1 done (claim released)
    2 more (newer values remain in flight for this claim: send again)
  A forgotten visitor (forget-visitor.lua) is lost: a delivery under way when it was
  forgotten finishes, but nothing it sent is recorded.
]]
--- @include "includes/newer"
--- @include "includes/suppressed"

-- Return codes, named as in src/coalesce/script-codes.ts (ACK_CODES).
local LOST, DONE, MORE = 0, 1, 2

local root, claimId, now, retentionMs = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
-- now as given, for the writes (a number would be formatted anew for each).
local nowText = ARGV[3]
local created, logLength, logRetention = ARGV[5] == '1', tonumber(ARGV[6]), ARGV[7]
local isSuppressed = suppression(root, now)
local out, released = {}, {}

-- One visitor; `at` is the index of its first attribute's name in ARGV, `n` their count.
-- One HGETALL of the in-flight hash tells whose claim it is and every stamp still in it, so
-- the ack decides DONE or MORE without a second read and deletes the hash whole when nothing
-- newer was folded in: per visitor HGETALL, HMGET, HSET and DEL, where HGET, HMGET, HDEL
-- and HKEYS came before (each `redis.call` costs Redis a few µs: docs/performance.md).
-- Reused from visitor to visitor, read up to their current count only: Lua's allocations
-- were a large part of this script's time (docs/performance.md).
local writes, drops, names = {}, {}, {}
local function ack(vk, entry, at, n)
  if isSuppressed(vk) then return LOST end
  local vf, vd = root .. ':vf:' .. vk, root .. ':vd:' .. vk
  local held = redis.call('HGETALL', vf)
  local f = {}
  for k = 1, #held, 2 do f[held[k]] = held[k + 1] end
  local mine = f['_claim'] == claimId
  local nw, nd = 0, 0
  for k = 1, n do
    local name = ARGV[at + 3 * k - 3]
    names[k] = name
    if mine then
      local sname = 's:' .. name
      if f[sname] == ARGV[at + 3 * k - 2] then
        drops[nd + 1], drops[nd + 2] = sname, 'v:' .. name
        nd = nd + 2
        f[sname] = nil
      end
    end
  end
  if n > 0 then
    local delivered = redis.call('HMGET', vd, unpack(names, 1, n))
    for k = 1, n do
      local st = ARGV[at + 3 * k - 2]
      if newer(st, delivered[k]) then
        local name = names[k]
        writes[nw + 1], writes[nw + 2], writes[nw + 3], writes[nw + 4] = name, st, 'v:' .. name, ARGV[at + 3 * k - 1]
        nw = nw + 4
      end
    end
    -- When a v2 row last created or renewed this visitor's profile (':' never starts an
    -- attribute name). Only a v2 row counts: a single update to a profile Target dropped
    -- answers success and stores nothing, so it proves nothing; past the lifetime the visitor
    -- is unknown.
    if created then
      writes[nw + 1], writes[nw + 2] = ':at', nowText
      nw = nw + 2
    end
    if nw > 0 then redis.call('HSET', vd, unpack(writes, 1, nw)) end
  end
  redis.call('PEXPIRE', vd, retentionMs)
  -- Target accepted it, whoever holds the claim now: the visitor's lineage shows it.
  if entry ~= '' and logLength > 0 then
    local log = root .. ':dl:' .. vk
    -- LPUSH answers the new length: only a log longer than kept needs trimming.
    if redis.call('LPUSH', log, entry) > logLength then redis.call('LTRIM', log, 0, logLength - 1) end
    redis.call('PEXPIRE', log, logRetention)
  end
  if not mine then return LOST end
  -- Attributes left (newer values folded in meanwhile); bookkeeping fields start with '_'.
  for field in pairs(f) do
    if string.byte(field, 1) == 115 and string.byte(field, 2) == 58 then -- 's:'
      if nd > 0 then redis.call('HDEL', vf, unpack(drops, 1, nd)) end
      return MORE
    end
  end
  redis.call('DEL', vf)
  released[#released + 1] = vk
  if redis.call('EXISTS', root .. ':vp:' .. vk) == 1 then redis.call('ZADD', KEYS[1], 'NX', nowText, vk) end
  return DONE
end

local a = 9
for v = 1, tonumber(ARGV[8]) do
  local n = tonumber(ARGV[a + 2])
  out[v] = ack(ARGV[a], ARGV[a + 1], a + 3, n)
  a = a + 3 + 3 * n
end
-- The leases of the visitors released, in one ZREM (a lease without its in-flight hash is
-- harmless meanwhile: nothing else runs inside this call).
if #released > 0 then redis.call('ZREM', root .. ':leases', unpack(released)) end
return out
