--[[
  Record a visitor's accepted delivery. Each sent attribute's stamp becomes the delivered
  stamp (field `<name>`) and its value the delivered value (field `v:<name>`, kept as long
  as the stamp, so a later v2 row can carry it again); it leaves the in-flight hash only if
  no newer value was folded in meanwhile.

  Input:
    KEYS[1] the shard's due index

    ARGV[1] root
    ARGV[2] claim id
    ARGV[3] now (ms)
    ARGV[4] delivered retention (ms)
    ARGV[5] visitor key
    ARGV[6] created ('1': a bulk v2 row that completed, which creates or renews the profile
      at Target; the visitor's `:at` is then set to now)
    ARGV[7] delivery log entry ('': none), pushed to `<root>:dl:<vk>` (src/coalesce/delivery-log.ts)
    ARGV[8] delivery log length kept per visitor
    ARGV[9] delivery log retention (ms)
    ARGV[10..] name, stamp, value per attribute actually sent

  Output:
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

local root, claimId, now, retentionMs, vk = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4], ARGV[5]
local vf, vd = root .. ':vf:' .. vk, root .. ':vd:' .. vk
if suppression(root, now)(vk) then return LOST end
local mine = redis.call('HGET', vf, '_claim') == claimId
-- Two HMGETs read every stamp compared, one HSET and one HDEL write: four commands per
-- visitor, where four per attribute made the ack the second cost of a delivered event.
local names, snames = {}, {}
for a = 10, #ARGV, 3 do
  names[#names + 1] = ARGV[a]
  snames[#snames + 1] = 's:' .. ARGV[a]
end
if #names > 0 then
  local delivered = redis.call('HMGET', vd, unpack(names))
  local flight = mine and redis.call('HMGET', vf, unpack(snames)) or {}
  local writes, drops = {}, {}
  for k = 1, #names do
    local name, st = names[k], ARGV[8 + 3 * k]
    if newer(st, delivered[k]) then
      writes[#writes + 1] = name
      writes[#writes + 1] = st
      writes[#writes + 1] = 'v:' .. name
      writes[#writes + 1] = ARGV[9 + 3 * k]
    end
    if mine and flight[k] == st then
      drops[#drops + 1] = snames[k]
      drops[#drops + 1] = 'v:' .. name
    end
  end
  if #writes > 0 then redis.call('HSET', vd, unpack(writes)) end
  if #drops > 0 then redis.call('HDEL', vf, unpack(drops)) end
end
-- When a v2 row last created or renewed this visitor's profile (':' never starts an
-- attribute name). Only a v2 row counts: a single update to a profile Target dropped answers
-- success and stores nothing, so it proves nothing; past the lifetime the visitor is unknown.
if ARGV[6] == '1' and #ARGV >= 10 then redis.call('HSET', vd, ':at', now) end
redis.call('PEXPIRE', vd, retentionMs)
-- Target accepted it, whoever holds the claim now: the visitor's lineage shows it.
if ARGV[7] ~= '' and tonumber(ARGV[8]) > 0 then
  local log = root .. ':dl:' .. vk
  redis.call('LPUSH', log, ARGV[7])
  redis.call('LTRIM', log, 0, tonumber(ARGV[8]) - 1)
  redis.call('PEXPIRE', log, ARGV[9])
end
if not mine then return LOST end
-- Attributes left (newer values folded in meanwhile); bookkeeping fields start with '_'.
for _, f in ipairs(redis.call('HKEYS', vf)) do
  if string.sub(f, 1, 2) == 's:' then return MORE end
end
redis.call('DEL', vf)
redis.call('ZREM', root .. ':leases', vk)
if redis.call('EXISTS', root .. ':vp:' .. vk) == 1 then redis.call('ZADD', KEYS[1], 'NX', now, vk) end
return DONE
