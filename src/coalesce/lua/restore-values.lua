--[[
  Put dead-lettered values back for delivery (dlq replay), with the stamps they had, so the
  normal rules still hold: a value older than what Target holds, or than what is pending or
  in flight, is skipped (P3/P4). No dedupe marker is involved: these values were merged once.

  Input:
    KEYS[1] the shard's due index (routes the call; the script builds the same name)

    ARGV[1] root
    ARGV[2] now (ms)
    ARGV[3] coalescing window (ms)
    ARGV[4] visitor key
    ARGV[5..] name, value, stamp per attribute

  Output:
    how many attributes were restored (0 for a forgotten visitor: nothing is restored)
]]
--- @include "includes/newer"
--- @include "includes/suppressed"

local root, now, windowMs, vk = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
local vp, vf, vd = root .. ':vp:' .. vk, root .. ':vf:' .. vk, root .. ':vd:' .. vk
local restored = 0
if suppression(root, now)(vk) then return 0 end
for a = 5, #ARGV, 3 do
  local name, value, st = ARGV[a], ARGV[a + 1], ARGV[a + 2]
  local sname = 's:' .. name
  if newer(st, redis.call('HGET', vd, name)) and newer(st, redis.call('HGET', vp, sname)) and newer(st, redis.call('HGET', vf, sname)) then
    redis.call('HSET', vp, 'v:' .. name, value, sname, st)
    restored = restored + 1
  end
end
if restored > 0 then
  redis.call('HSETNX', vp, '_in', now)
  redis.call('ZADD', root .. ':due', 'NX', now + windowMs, vk)
end
return restored
