--[[
  Move a visitor whose lease expired to a new claim (or renew it). Atomic compare-and-set on
  the claim id, so two flushers sweeping at once cannot both take it.
  When the in-flight hash is gone (delivered meanwhile) the stale lease is dropped.

  Input:
    KEYS[1] the shard's due index (routes the call; not read)

    ARGV[1] root
    ARGV[2] visitor key
    ARGV[3] old claim id
    ARGV[4] new claim id
    ARGV[5] now (ms)
    ARGV[6] lease (ms)
    ARGV[7] thaw (optional, '1': the new claim may fold in newer values again, see
      snapshot-claim.lua; used when a bulk claim hands values no bulk file may carry to
      single delivery)

  Output:
    1 switched
    0 not switched (another claim holds the visitor, or it is gone)
]]
-- Return codes, named as in src/coalesce/script-codes.ts (RENEW_CODES).
local KEPT, SWITCHED = 0, 1

local root, vk, oldClaim, newClaim, now, leaseMs = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6])
local vf = root .. ':vf:' .. vk
local claim = redis.call('HGET', vf, '_claim')
if not claim then
  redis.call('ZREM', root .. ':leases', vk)
  return KEPT
end
if claim ~= oldClaim then return KEPT end
redis.call('HSET', vf, '_claim', newClaim)
if ARGV[7] == '1' then redis.call('HDEL', vf, '_sent') end
redis.call('ZADD', root .. ':leases', now + leaseMs, vk)
return SWITCHED
