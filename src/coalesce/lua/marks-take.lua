--[[
  Intake marks ids taken in (`t`) in this generation, never overwriting a merge's `a`.

  Input:
    KEYS[1] the shard's due index (routes the call; not read)

    ARGV[1] root
    ARGV[2] marker generation
    ARGV[3..] bucket, field, TTL of the bucket's hash (ms) per id

  Output:
    1
]]
local root, generation = ARGV[1], tonumber(ARGV[2])
local current = root .. ':seen:' .. string.format('%d', generation) .. ':'
local touched = {}
for a = 3, #ARGV, 3 do
  local bucket = ARGV[a]
  redis.call('HSETNX', current .. bucket, ARGV[a + 1], 't')
  touched[bucket] = ARGV[a + 2]
end
for bucket, ttl in pairs(touched) do redis.call('PEXPIRE', current .. bucket, ttl) end
return 1
