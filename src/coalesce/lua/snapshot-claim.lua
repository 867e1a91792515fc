--[[
  Snapshot what a delivery should send now: first fold in any newer pending values (so a
  retry sends the newest values and an old value can never follow a new one: P4), then
  renew the lease and return the in-flight hash. Visitors no longer held by this claim
  (delivered, or taken back after a lease expired) come back as an empty list.
  With freeze = 1 (bulk delivery) the in-flight hash is marked `_sent` and never folds
  again for this claim: a bulk file may be with Target until its batch status says
  `complete`, and the status poll acks the in-flight stamps, so they must be the ones in
  the file even when the delivery job ran twice (a crash after its submit, or a stall).
  Newer values wait in the pending hash and become due when the claim is acked.
  With freeze, the values last delivered for the visitor (`v:<name>` of its delivered hash)
  follow as `d:<name>` fields: a v2 row must carry them all (the v2 override, docs/target.md).

  Input:
    KEYS[1] the shard's due index

    ARGV[1] root
    ARGV[2] claim id
    ARGV[3] now (ms)
    ARGV[4] lease (ms)
    ARGV[5] freeze ('1' or '0')
    ARGV[6..] visitor keys

  Output:
    one flat HGETALL per visitor (empty: not held by this claim)
]]
--- @include "includes/newer"
--- @include "includes/add-sources"

local root, claimId, now, leaseMs, freeze = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5] == '1'
local out = {}
for a = 6, #ARGV do
  local vk = ARGV[a]
  local vf, vp = root .. ':vf:' .. vk, root .. ':vp:' .. vk
  if redis.call('HGET', vf, '_claim') ~= claimId then
    out[#out + 1] = {}
  else
    local pending = {}
    if redis.call('HEXISTS', vf, '_sent') == 0 then pending = redis.call('HGETALL', vp) end
    for k = 1, #pending, 2 do
      local f = pending[k]
      if string.sub(f, 1, 2) == 's:' and newer(pending[k + 1], redis.call('HGET', vf, f)) then
        local name = string.sub(f, 3)
        redis.call('HSET', vf, f, pending[k + 1], 'v:' .. name, redis.call('HGET', vp, 'v:' .. name))
      end
    end
    if #pending > 0 then
      local pin = redis.call('HGET', vp, '_in')
      if pin then redis.call('HSETNX', vf, '_in', pin) end
      local held = redis.call('HGET', vf, '_src')
      local merged = addSources(held, redis.call('HGET', vp, '_src'))
      if merged and merged ~= held then redis.call('HSET', vf, '_src', merged) end
      redis.call('DEL', vp)
      redis.call('ZREM', KEYS[1], vk)
    end
    if freeze then redis.call('HSET', vf, '_sent', '1') end
    redis.call('ZADD', root .. ':leases', now + leaseMs, vk)
    local flat = redis.call('HGETALL', vf)
    if freeze then
      -- A bulk row carries every value delivered before (the v2 override), as d:<name> fields.
      local kept = redis.call('HGETALL', root .. ':vd:' .. vk)
      for k = 1, #kept, 2 do
        if string.sub(kept[k], 1, 2) == 'v:' then
          flat[#flat + 1] = 'd:' .. string.sub(kept[k], 3)
          flat[#flat + 1] = kept[k + 1]
        end
      end
    end
    out[#out + 1] = flat
  end
end
return out
