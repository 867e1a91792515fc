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
    ARGV[6] due by (ms, optional, default now): a flood's last claim also takes the visitors
      handed back to wait for bulk budget (src/flush/flusher.ts), whose due time is later

  Output:
    the claimed visitor keys
]]
local root, now, limit, leaseMs, claimId = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local dueBy = tonumber(ARGV[6] or ARGV[2])
local due, leases = KEYS[1], root .. ':leases'
local out = {}
local budget = limit + math.min(limit * 3, 1000)
-- Per claimed visitor EXISTS, RENAMENX (0: one is in flight), HSET and ZADD, where EXISTS,
-- EXISTS and RENAME took three; the scanned entries leave the due index in one ZREM, once
-- each one's outcome is written. Plain calls, no pcall: an error (a cluster slot on the move
-- refuses the keys) stops the script with those entries still due, and every visitor it
-- claimed before has its lease, so nothing is left neither due nor leased.
while #out < limit and budget > 0 do
  local vks = redis.call('ZRANGEBYSCORE', due, '-inf', dueBy, 'LIMIT', 0, math.min(limit - #out, budget))
  if #vks == 0 then break end
  budget = budget - #vks
  for _, vk in ipairs(vks) do
    local vf, vp = root .. ':vf:' .. vk, root .. ':vp:' .. vk
    if redis.call('EXISTS', vp) == 1 and redis.call('RENAMENX', vp, vf) == 1 then
      redis.call('HSET', vf, '_claim', claimId)
      redis.call('ZADD', leases, now + leaseMs, vk)
      out[#out + 1] = vk
    end
  end
  redis.call('ZREM', due, unpack(vks))
end
return out
