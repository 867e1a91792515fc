--[[
  Forget one visitor (erasure, src/erasure/forget.ts): delete its pending, in-flight and
  delivered values, its delivery log (src/coalesce/delivery-log.ts) and its place in the due index and the leases, and suppress it until
  `untilMs`, so that events merged later (new, imported or replayed), values restored from
  dead letters and the ack of a delivery already under way cannot bring any of it back
  (they check the suppression: includes/suppressed.lua). Expired suppressions are dropped.
  One atomic step: no merge or ack sees the visitor half forgotten.

  Input:
    KEYS[1] the shard's due index

    ARGV[1] root
    ARGV[2] visitor key
    ARGV[3] now (ms)
    ARGV[4] suppressed until (ms)
    ARGV[5] erased until (ms): the event-id markers that name the visitor (merge-events.lua)
      cannot be found by visitor and expire on their own by then; until then the lineage
      reads `<root>:erased` and shows their events without a visitor

  Output: { pending, inFlight, delivered, claimed }
    attributes pending, in flight and delivered (values kept) that were removed, and 1 when
    a delivery held the visitor (it finishes with what it read, and its ack writes nothing)
]]

local root, vk, now, untilMs = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local vp, vf, vd = root .. ':vp:' .. vk, root .. ':vf:' .. vk, root .. ':vd:' .. vk
local suppressed = root .. ':suppressed'
redis.call('ZREMRANGEBYSCORE', suppressed, '-inf', now)
-- GT: a second forget never shortens a longer suppression already set.
redis.call('ZADD', suppressed, 'GT', untilMs, redis.sha1hex(vk))
local erased = root .. ':erased'
redis.call('ZREMRANGEBYSCORE', erased, '-inf', now)
redis.call('ZADD', erased, 'GT', ARGV[5], redis.sha1hex(vk))

-- Attributes are the fields `s:<name>` (pending, in flight) and `<name>` (delivered);
-- bookkeeping fields start with '_' or ':', values with 'v:'.
local function count(key, pattern)
  local n = 0
  for _, f in ipairs(redis.call('HKEYS', key)) do
    if string.find(f, pattern) then n = n + 1 end
  end
  return n
end
local pending, inFlight, delivered = count(vp, '^s:'), count(vf, '^s:'), count(vd, '^[^_:]')
delivered = delivered - count(vd, '^v:')
local claimed = redis.call('ZSCORE', root .. ':leases', vk) and 1 or 0
redis.call('DEL', vp, vf, vd, root .. ':dl:' .. vk)
redis.call('ZREM', KEYS[1], vk)
redis.call('ZREM', root .. ':leases', vk)
return { pending, inFlight, delivered, claimed }
