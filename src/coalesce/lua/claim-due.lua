--[[
  Claim due visitors: move each one's pending hash to its in-flight hash under a claim id
  and give it a lease. A visitor already in flight is skipped (held) and leaves the due
  index; the end of its delivery puts it back (one delivery per visitor at a time: P4), and
  until then every attempt of that delivery folds its pending values in (snapshot-claim.lua).
  Held visitors do not count against `limit`: the scan goes on past them (up to 3 × limit,
  at most 1,000, extra entries per call, to keep the script short) so a crowd of held
  visitors at the head of the index cannot starve due ones behind it.

  Input:
    KEYS[1] the shard's due index

    ARGV[1] root
    ARGV[2] now (ms)
    ARGV[3] limit (most visitors to claim)
    ARGV[4] lease (ms)
    ARGV[5] claim id

  Output:
    the claimed visitor keys
]]
local root, now, limit, leaseMs, claimId = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local due, leases = KEYS[1], root .. ':leases'
local out, leased = {}, {}
local leaseEnds = now + leaseMs
local budget = limit + math.min(limit * 3, 1000)
-- Per visitor two commands: RENAMENX moves the pending hash unless one is in flight (0) or
-- nothing is pending (an error, caught), where EXISTS, EXISTS and RENAME took three; the due
-- entries leave and the leases start in one command per scan (at most `limit`, 500 from
-- src/coalesce/store.ts, members each).
while #out < limit and budget > 0 do
  local vks = redis.call('ZRANGEBYSCORE', due, '-inf', now, 'LIMIT', 0, math.min(limit - #out, budget))
  if #vks == 0 then break end
  redis.call('ZREM', due, unpack(vks))
  budget = budget - #vks
  for _, vk in ipairs(vks) do
    local vf = root .. ':vf:' .. vk
    if redis.pcall('RENAMENX', root .. ':vp:' .. vk, vf) == 1 then
      redis.call('HSET', vf, '_claim', claimId)
      leased[#leased + 1] = leaseEnds
      leased[#leased + 1] = vk
      out[#out + 1] = vk
    end
  end
end
if #leased > 0 then redis.call('ZADD', leases, unpack(leased)) end
return out
