--[[
  Move visitors of one claim to a new claim (or renew the same claim), renewing their
  leases: a compare-and-set on each visitor's claim id, so two flushers sweeping at once
  cannot both take a visitor. Many visitors per call (the lease sweep and the reroutes move
  whole claims), so the round trips do not grow with the visitors.
  A visitor whose in-flight hash is gone (delivered meanwhile) has its stale lease dropped.

  Input:
    KEYS[1] the shard's due index (routes the call; not read)

    ARGV[1] root
    ARGV[2] old claim id
    ARGV[3] new claim id
    ARGV[4] now (ms)
    ARGV[5] lease (ms)
    ARGV[6] thaw ('1': the new claim may fold in newer values again, see
      snapshot-claim.lua; used when a bulk claim hands values no bulk file may carry to
      single delivery; '0': no)
    ARGV[7..] visitor keys

  Output: one code per visitor
    1 switched
    0 kept (another claim holds the visitor, or it is gone)
]]
-- Return codes, named as in src/coalesce/script-codes.ts (RENEW_CODES).
local KEPT, SWITCHED = 0, 1

local root, oldClaim, newClaim, now, leaseMs = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local thaw = ARGV[6] == '1'
local leases = root .. ':leases'
local out = {}
for a = 7, #ARGV do
  local vk = ARGV[a]
  local vf = root .. ':vf:' .. vk
  local claim = redis.call('HGET', vf, '_claim')
  if not claim then
    redis.call('ZREM', leases, vk)
    out[#out + 1] = KEPT
  elseif claim ~= oldClaim then
    out[#out + 1] = KEPT
  else
    redis.call('HSET', vf, '_claim', newClaim)
    if thaw then redis.call('HDEL', vf, '_sent') end
    redis.call('ZADD', leases, now + leaseMs, vk)
    out[#out + 1] = SWITCHED
  end
end
return out
