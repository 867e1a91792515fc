--[[
  Intake's marker lookup for one shard: is each id taken in or applied (a field in this
  generation's or the previous generation's bucket hash, src/coalesce/markers.ts)?

  Input:
    KEYS[1] the shard's due index (routes the call; not read)

    ARGV[1] root
    ARGV[2] marker generation
    ARGV[3..] bucket, field per id

  Output: one per id
    1 seen
    0 not seen
]]
local root, generation = ARGV[1], tonumber(ARGV[2])
local current = root .. ':seen:' .. string.format('%d', generation) .. ':'
local previous = root .. ':seen:' .. string.format('%d', generation - 1) .. ':'
local out = {}
for a = 3, #ARGV, 2 do
  local bucket, field = ARGV[a], ARGV[a + 1]
  out[#out + 1] = (redis.call('HEXISTS', current .. bucket, field) == 1 or redis.call('HEXISTS', previous .. bucket, field) == 1) and 1 or 0
end
return out
