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
local created, logLength, logRetention = ARGV[5] == '1', tonumber(ARGV[6]), ARGV[7]
local isSuppressed = suppression(root, now)
local out, released = {}, {}

-- One visitor; `at` is the index of its first attribute's name in ARGV, `n` their count.
-- One HGETALL of the in-flight hash tells whose claim it is and every stamp still in it, so
-- the ack decides DONE or MORE without a second read and deletes the hash whole when nothing
-- newer was folded in: per visitor HGETALL, HMGET, HSET and DEL, where HGET, HMGET, HDEL
-- and HKEYS came before (each `redis.call` costs Redis a few µs: docs/performance.md).
local function ack(vk, entry, at, n)
  if isSuppressed(vk) then return LOST end
  local vf, vd = root .. ':vf:' .. vk, root .. ':vd:' .. vk
  local held = redis.call('HGETALL', vf)
  local f = {}
  for k = 1, #held, 2 do f[held[k]] = held[k + 1] end
  local mine = f['_claim'] == claimId
  local writes, drops, names = {}, {}, {}
  for k = 1, n do
    local name, st = ARGV[at + 3 * k - 3], ARGV[at + 3 * k - 2]
    names[k] = name
    if mine and f['s:' .. name] == st then
      drops[#drops + 1] = 's:' .. name
      drops[#drops + 1] = 'v:' .. name
      f['s:' .. name] = nil
    end
  end
  if n > 0 then
    local delivered = redis.call('HMGET', vd, unpack(names))
    for k = 1, n do
      local st = ARGV[at + 3 * k - 2]
      if newer(st, delivered[k]) then
        writes[#writes + 1] = names[k]
        writes[#writes + 1] = st
        writes[#writes + 1] = 'v:' .. names[k]
        writes[#writes + 1] = ARGV[at + 3 * k - 1]
      end
    end
    -- When a v2 row last created or renewed this visitor's profile (':' never starts an
    -- attribute name). Only a v2 row counts: a single update to a profile Target dropped
    -- answers success and stores nothing, so it proves nothing; past the lifetime the visitor
    -- is unknown.
    if created then
      writes[#writes + 1] = ':at'
      writes[#writes + 1] = now
    end
    if #writes > 0 then redis.call('HSET', vd, unpack(writes)) end
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
    if string.sub(field, 1, 2) == 's:' then
      if #drops > 0 then redis.call('HDEL', vf, unpack(drops)) end
      return MORE
    end
  end
  redis.call('DEL', vf)
  released[#released + 1] = vk
  if redis.call('EXISTS', root .. ':vp:' .. vk) == 1 then redis.call('ZADD', KEYS[1], 'NX', now, vk) end
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
