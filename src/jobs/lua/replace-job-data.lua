--[[
  Replace a BullMQ job's data only if it is still what the caller read (and, when a set is
  given, the job is still in it): two erasures rewriting the same entry at once, or one
  rewriting a job an operator retried meanwhile, must not write back what the other took out
  (src/jobs/replace-data.ts).

  Input:
    KEYS[1] the job's hash
    KEYS[2] (optional) a sorted set of the queue the job must be in (its failed set)

    ARGV[1] the job id
    ARGV[2] the data the caller read
    ARGV[3] the new data

  Output: 1 replaced, 0 not (changed or removed meanwhile, or no longer in the set: read it again)
]]
if KEYS[2] and redis.call('ZSCORE', KEYS[2], ARGV[1]) == false then return 0 end
if redis.call('HGET', KEYS[1], 'data') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[3])
return 1
