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
-- The leases renewed, written by one ZADD after the loop (ARGV holds at most 100 visitors,
-- src/coalesce/store.ts), not one per visitor.
local leased = {}
for a = 6, #ARGV do
  local vk = ARGV[a]
  local vf, vp = root .. ':vf:' .. vk, root .. ':vp:' .. vk
  local held = redis.call('HGETALL', vf)
  -- The in-flight hash as a table: the fold compares with it and the answer is built from it,
  -- instead of an HGET per pending attribute and a second HGETALL.
  local f = {}
  for k = 1, #held, 2 do f[held[k]] = held[k + 1] end
  if f['_claim'] ~= claimId then
    out[#out + 1] = {}
  else
    local pending = {}
    if not f['_sent'] then pending = redis.call('HGETALL', vp) end
    if #pending > 0 then
      local p = {}
      for k = 1, #pending, 2 do p[pending[k]] = pending[k + 1] end
      local writes = {}
      for k = 1, #pending, 2 do
        local field, st = pending[k], pending[k + 1]
        local value = 'v:' .. string.sub(field, 3)
        if string.sub(field, 1, 2) == 's:' and p[value] and newer(st, f[field] or false) then
          writes[#writes + 1] = field
          writes[#writes + 1] = st
          writes[#writes + 1] = value
          writes[#writes + 1] = p[value]
          f[field], f[value] = st, p[value]
        end
      end
      if p['_in'] and not f['_in'] then
        writes[#writes + 1] = '_in'
        writes[#writes + 1] = p['_in']
        f['_in'] = p['_in']
      end
      local merged = addSources(f['_src'] or false, p['_src'] or false)
      if merged and merged ~= f['_src'] then
        writes[#writes + 1] = '_src'
        writes[#writes + 1] = merged
        f['_src'] = merged
      end
      if #writes > 0 then redis.call('HSET', vf, unpack(writes)) end
      redis.call('DEL', vp)
      redis.call('ZREM', KEYS[1], vk)
    end
    if freeze and not f['_sent'] then
      redis.call('HSET', vf, '_sent', '1')
      f['_sent'] = '1'
    end
    leased[#leased + 1] = now + leaseMs
    leased[#leased + 1] = vk
    local flat = {}
    for field, value in pairs(f) do
      flat[#flat + 1] = field
      flat[#flat + 1] = value
    end
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
if #leased > 0 then redis.call('ZADD', root .. ':leases', unpack(leased)) end
return out
