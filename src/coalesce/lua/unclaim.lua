--[[
  Hand claimed visitors back, values and all (nothing was sent): their in-flight values go
  back into the pending hash (newer pending values win), the lease goes, and they are due
  again at `dueAt`. Used when a claim's bulk share must wait for room in the bulk budget, so
  visitors gather into fewer, larger bulk files instead of many small ones.

  Input:
    KEYS[1] the shard's due index

    ARGV[1] root
    ARGV[2] claim id
    ARGV[3] dueAt (ms)
    ARGV[4..] visitor keys

  Output:
    how many were handed back
]]
--- @include "includes/newer"
--- @include "includes/add-sources"

local root, claimId, dueAt = ARGV[1], ARGV[2], tonumber(ARGV[3])
local n = 0
for a = 4, #ARGV do
  local vk = ARGV[a]
  local vf, vp = root .. ':vf:' .. vk, root .. ':vp:' .. vk
  if redis.call('HGET', vf, '_claim') == claimId then
    local held = redis.call('HGETALL', vf)
    for k = 1, #held, 2 do
      local f = held[k]
      if string.sub(f, 1, 2) == 's:' and newer(held[k + 1], redis.call('HGET', vp, f)) then
        local name = string.sub(f, 3)
        redis.call('HSET', vp, f, held[k + 1], 'v:' .. name, redis.call('HGET', vf, 'v:' .. name))
      end
    end
    local held_in, pending_in = redis.call('HGET', vf, '_in'), redis.call('HGET', vp, '_in')
    if held_in and (not pending_in or tonumber(held_in) < tonumber(pending_in)) then redis.call('HSET', vp, '_in', held_in) end
    local pending_src = redis.call('HGET', vp, '_src')
    local merged = addSources(pending_src, redis.call('HGET', vf, '_src'))
    if merged and merged ~= pending_src then redis.call('HSET', vp, '_src', merged) end
    redis.call('DEL', vf)
    redis.call('ZREM', root .. ':leases', vk)
    redis.call('ZADD', KEYS[1], dueAt, vk)
    n = n + 1
  end
end
return n
