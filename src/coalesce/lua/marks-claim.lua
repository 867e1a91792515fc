--[[
  Intake's dedupe of one request in one call (one shard, whose root is also the slot of the
  ingest queue). For each event id: was it taken in or applied already (seen)? Each id that
  was not (fresh) is marked with the number of the ingest job about to carry it: jobs are
  numbered from the sequence key, the j-th fresh id (from 0) goes to job
  first + floor(j / events per job), whose id is `intake-<number>`.
  Such a marker counts as seen only while its job exists. So a job that was never stored
  (intake died, or Queue.add failed, after this call) leaves markers that count for nothing,
  and the producer's resend is taken in; and once the map has merged the job, the merge's
  `a` marker has replaced it (merge-events.lua). `a` (applied) and `t` (taken in, written
  by intake with several shards) always count as seen. Markers go to this generation's
  hash of the id's bucket, looked up in this generation and the previous one
  (src/coalesce/markers.ts).

  Input:
    KEYS[1] the shard's due index (routes the call; not read)

    ARGV[1] root
    ARGV[2] marker generation
    ARGV[3] dedupe window (ms)
    ARGV[4] now (ms)
    ARGV[5] expiry spread: a bucket's hash expires floor(bucket * window / spread) ms after
            the end of the next generation
    ARGV[6] source
    ARGV[7] job key prefix: the key of job number n is this prefix followed by n
    ARGV[8] job sequence key
    ARGV[9] events per job
    ARGV[10] the number of events
    ARGV[11] the marker bucket of each event, in decimal, separated by ","
    ARGV[12] the event ids, separated by line feeds (valid ids hold no control characters)

  Output: { the number of the first job (0: no id was fresh, no job to store), one character
  per event } (one string, not an array of numbers the client decodes one by one):
    '0' fresh (now marked)
    '1' seen
]]
local FRESH, SEEN = '0', '1'

local root, generation, window, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local spread, source, jobKey, sequence, perJob = tonumber(ARGV[5]), ARGV[6], ARGV[7], ARGV[8], tonumber(ARGV[9])
local current = root .. ':seen:' .. string.format('%d', generation) .. ':'
local previous = root .. ':seen:' .. string.format('%d', generation - 1) .. ':'

local function counts(marker)
  if not marker then return false end
  local first = string.byte(marker, 1)
  if first == 97 or first == 116 then return true end -- 'a', 't'
  return redis.call('EXISTS', jobKey .. marker) == 1
end

-- Two packed arguments instead of two per event: the client writes one flat string, not a
-- thousand (building a command of 1,000 arguments cost intake more CPU than the script).
-- Job numbers are drawn for every id up front (numbers of jobs never made are skipped), so
-- a fresh id is looked up in the previous generation by one HGET and marked by one HSETNX.
-- The previous generation is read first, so an id seen there is never written here: no
-- field is ever deleted from a marker hash, which the expiry registry below relies on.
local n = tonumber(ARGV[10])
local flags = {}
local jobs = math.ceil(n / perJob)
local first = n > 0 and redis.call('INCRBY', sequence, jobs) - jobs + 1 or 0
local fresh, touched = 0, {}
local mark, markUntil = nil, 0
local prefix = source .. ':'
local nextBucket = string.gmatch(ARGV[11], '%d+')
for id in string.gmatch(ARGV[12], '[^\n]+') do
  local bucket, field = nextBucket(), prefix .. id
  local key = current .. bucket
  if fresh >= markUntil then
    -- The next job's number, once per job rather than once per id.
    mark = string.format('%d', first + math.floor(fresh / perJob))
    markUntil = (math.floor(fresh / perJob) + 1) * perJob
  end
  local seen = counts(redis.call('HGET', previous .. bucket, field))
  if not seen and redis.call('HSETNX', key, field, mark) == 0 then
    seen = counts(redis.call('HGET', key, field))
    if not seen then redis.call('HSET', key, field, mark) end
  end
  if seen then
    flags[#flags + 1] = SEEN
  else
    flags[#flags + 1] = FRESH
    fresh = fresh + 1
    touched[bucket] = true
  end
end

-- A bucket's hash expires at a time fixed by its generation and bucket, so only the call
-- that created it has to set it. Which buckets of this generation have theirs is one bit
-- each in the generation's registry (`<root>:seen:<generation>:x`, read once per call):
-- a request of 500 ids touches about 485 of the 8,192 buckets, and a PEXPIRE for each cost
-- one Redis command per event. A bit is set in the same call as the expiry it records, and
-- no marker hash loses a field (see above), so a hash with its bit set always has its expiry.
local ends = (generation + 2) * window
local registry = current .. 'x'
local done = redis.call('GET', registry)
local added = false
for bucket in pairs(touched) do
  local b = tonumber(bucket)
  -- SETBIT numbers bits from the most significant bit of each byte.
  local byte = done and string.byte(done, math.floor(b / 8) + 1) or nil
  if not byte or bit.band(byte, bit.rshift(128, b % 8)) == 0 then
    local expiresAt = ends + math.floor(b * window / spread)
    redis.call('PEXPIRE', current .. bucket, string.format('%d', expiresAt - now), 'NX')
    redis.call('SETBIT', registry, b, 1)
    added = true
  end
end
-- The registry expires with the last bucket of its generation (bucket × window ÷ spread is
-- under an eighth of a window): set again with each new bit, always to the same time.
if added then redis.call('PEXPIRE', registry, string.format('%d', ends + math.floor(window / 8) - now)) end
return { fresh > 0 and first or 0, table.concat(flags) }
