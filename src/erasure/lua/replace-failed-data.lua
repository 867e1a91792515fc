--[[
  Replace the data of a failed BullMQ job, only if it is still what the caller read and the
  job is still in the failed set: two erasures rewriting the same job at once, or one
  rewriting a job an operator retried meanwhile, must not write back what the other took out
  (src/erasure/ingest-jobs.ts).

  Input:
    KEYS[1] the job's hash
    KEYS[2] the queue's failed set

    ARGV[1] the job id
    ARGV[2] the data the caller read
    ARGV[3] the new data

  Output: 1 replaced, 0 not (changed meanwhile, or no longer failed: read it again)
]]
if redis.call('ZSCORE', KEYS[2], ARGV[1]) == false then return 0 end
if redis.call('HGET', KEYS[1], 'data') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], 'data', ARGV[3])
return 1
