--[[
  Delete the probe lock only if this process still owns it.

  Input:
    KEYS[1] the probe lock

    ARGV[1] owner

  Output:
    1 deleted
    0 not ours (or gone)
]]
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
