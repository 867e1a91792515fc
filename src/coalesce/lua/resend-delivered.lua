--[[
  Send delivered values again (the landing audit found them missing at Target): each named
  attribute's delivered value goes back to the pending hash with its delivered stamp, so
  the normal rules still hold. An attribute is skipped when a delivery carrying it is under
  way (in flight), or when a value as new or newer is already pending: the newer value wins
  (P3/P4) and it reaches Target anyway. No dedupe marker is involved, and the delivered
  stamps stay as they are: the value sent again is the one Target last accepted.

  Input:
    KEYS[1] the shard's due index (routes the call; the script builds the same name)

    ARGV[1] root
    ARGV[2] now (ms)
    ARGV[3] coalescing window (ms)
    ARGV[4] visitor key
    ARGV[5] '1': Target has no profile for the visitor (Fetch Profile answered 404); its
      delivered time `:at` is set to 0, so the next delivery goes by bulk v2, which creates
      the profile (a single update does not)
    ARGV[6] most times one delivered value (its stamp) is put back: a row Target keeps
      accepting and never storing must not cost bulk calls forever
      (LANDING_AUDIT_MAX_RESENDS); counted in the delivered hash's `:r:<name>` field as
      `<count>|<stamp>` (fields starting with ':' are bookkeeping, not attributes)
    ARGV[7..] attribute names

  Output: { put back, given up }
    attributes put back (0 for a forgotten visitor: nothing comes back), and attributes not
    put back because their value was sent again ARGV[6] times already
]]
--- @include "includes/newer"
--- @include "includes/suppressed"

local root, now, windowMs, vk, gone = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4], ARGV[5] == '1'
local vp, vf, vd = root .. ':vp:' .. vk, root .. ':vf:' .. vk, root .. ':vd:' .. vk
if suppression(root, now)(vk) then return { 0, 0 } end
local maxResends = tonumber(ARGV[6])
local resent, gaveUp = 0, 0
for a = 7, #ARGV do
  local name = ARGV[a]
  local sname = 's:' .. name
  local st, value = redis.call('HGET', vd, name), redis.call('HGET', vd, 'v:' .. name)
  local pending = redis.call('HGET', vp, sname)
  if st and value and redis.call('HEXISTS', vf, sname) == 0 and (not pending or newer(st, pending)) then
    local times = 0
    local before = redis.call('HGET', vd, ':r:' .. name)
    if before then
      local bar = string.find(before, '|', 1, true)
      if bar and string.sub(before, bar + 1) == st then times = tonumber(string.sub(before, 1, bar - 1)) or 0 end
    end
    if times >= maxResends then
      gaveUp = gaveUp + 1
    else
      redis.call('HSET', vd, ':r:' .. name, (times + 1) .. '|' .. st)
      redis.call('HSET', vp, 'v:' .. name, value, sname, st)
      resent = resent + 1
    end
  end
end
-- Target has no profile: whatever goes next for this visitor (what was resent, or a newer
-- value already pending or in flight) must go by a bulk v2 row, which creates it; a single
-- update to a missing profile answers success and stores nothing.
if gone and redis.call('EXISTS', vd) == 1 then redis.call('HSET', vd, ':at', 0) end
if resent > 0 then
  redis.call('HSETNX', vp, '_in', now)
  redis.call('ZADD', root .. ':due', 'NX', now + windowMs, vk)
end
return { resent, gaveUp }
