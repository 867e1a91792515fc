--[[
  Reserve room in a rolling-window call budget shared by every process. Calls are counted in
  buckets (a hash: bucket index → count); a reservation sums the buckets that overlap the
  window and takes room only if the sum plus the request stays within the limit. A bucket
  partly inside the window counts whole, so the budget can be under-used by one bucket but
  never exceeded. While `<key>:pause` exists (Target answered 503: the account's shared
  limit is spent, see CallBudget.pause in src/quota/budgets.ts), nothing is granted until
  it expires. n = 0 reads the budget without taking anything.

  Input:
    KEYS[1] the budget hash

    ARGV[1] now (ms)
    ARGV[2] bucket (ms)
    ARGV[3] window (ms)
    ARGV[4] limit
    ARGV[5] n, the calls to reserve
    ARGV[6] recent window (ms)

  Output: { granted, used, wait, recent, paused }
    granted 1 granted, 0 refused
    used    calls counted in the window after this reservation
    wait    ms until room frees (0 if granted)
    recent  calls counted in the last recent window
    paused  ms the pause has left (0: none)
]]
local key = KEYS[1]
local now, bucketMs, windowMs, limit, n, recentMs = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])
local current = math.floor(now / bucketMs)
local span = math.ceil(windowMs / bucketMs)
local oldest = current - span + 1
local recentFrom = current - math.ceil(recentMs / bucketMs) + 1
local paused = redis.call('PTTL', key .. ':pause')
local fields = redis.call('HGETALL', key)
local used, recent, stale, earliest = 0, 0, {}, nil
for i = 1, #fields, 2 do
  local b, c = tonumber(fields[i]), tonumber(fields[i + 1])
  if b < oldest then
    stale[#stale + 1] = fields[i]
  else
    used = used + c
    if b >= recentFrom then recent = recent + c end
    if c > 0 and (earliest == nil or b < earliest) then earliest = b end
  end
end
if #stale > 0 then redis.call('HDEL', key, unpack(stale)) end
if paused < 0 then paused = 0 end
if n == 0 then return { 1, used, 0, recent, paused } end
if paused > 0 then return { 0, used, paused, recent, paused } end
if used + n > limit then
  local wait = bucketMs
  if earliest ~= nil then wait = (earliest + span) * bucketMs - now end
  return { 0, used, math.max(wait, 1), recent, 0 }
end
redis.call('HINCRBY', key, tostring(current), n)
redis.call('PEXPIRE', key, windowMs + bucketMs)
return { 1, used + n, 0, recent + n, 0 }
