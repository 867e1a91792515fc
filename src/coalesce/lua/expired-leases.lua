--[[
  Leases that ran out, with the claim that holds each, so the caller can check whether the
  claim's delivery job still exists.

  Input:
    KEYS[1] the shard's due index (routes the call; not read)

    ARGV[1] root
    ARGV[2] now (ms)
    ARGV[3] limit

  Output:
    flat list: visitor key, claim id ('' when the in-flight hash is gone), ...
]]
local root, now, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local vks = redis.call('ZRANGEBYSCORE', root .. ':leases', '-inf', now, 'LIMIT', 0, limit)
local out = {}
for _, vk in ipairs(vks) do
  local claim = redis.call('HGET', root .. ':vf:' .. vk, '_claim')
  out[#out + 1] = vk
  out[#out + 1] = claim or ''
end
return out
