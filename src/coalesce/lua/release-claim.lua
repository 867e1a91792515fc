--[[
  Let go of visitors whose delivery failed for good (their values went to the dead-letter
  queue). Newer pending values stay and become due at once.

  Input:
    KEYS[1] the shard's due index

    ARGV[1] root
    ARGV[2] claim id
    ARGV[3] now (ms)
    ARGV[4..] visitor keys

  Output:
    how many were released
]]
local root, claimId, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local released = 0
for a = 4, #ARGV do
  local vk = ARGV[a]
  local vf = root .. ':vf:' .. vk
  if redis.call('HGET', vf, '_claim') == claimId then
    redis.call('DEL', vf)
    redis.call('ZREM', root .. ':leases', vk)
    if redis.call('EXISTS', root .. ':vp:' .. vk) == 1 then redis.call('ZADD', KEYS[1], 'NX', now, vk) end
    released = released + 1
  end
end
return released
