--[[
  Open the credentials hold unless one is open (then only note the status). A hold refused
  again soon after the last one lifted (`:recent`, a storm of refusals or a probe that
  passes where updates do not) goes on from the probe backoff reached, instead of flapping
  every 2 s.

  Input:
    KEYS[1] the hold

    ARGV[1] now (ms)
    ARGV[2] status (the HTTP status Target answered)
    ARGV[3] first probe wait (ms)
    ARGV[4] longest probe wait (ms)

  Output:
    1 opened
    0 a hold was open already
]]
if redis.call('HSETNX', KEYS[1], 'since', ARGV[1]) == 0 then
  redis.call('HSET', KEYS[1], 'status', ARGV[2])
  return 0
end
local probes = tonumber(redis.call('GET', KEYS[1] .. ':recent') or '0')
local wait = math.min(tonumber(ARGV[4]), tonumber(ARGV[3]) * 2 ^ math.min(probes, 20))
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'probes', probes, 'nextProbeAt', tonumber(ARGV[1]) + wait, 'tokenChanged', '0')
redis.call('SET', KEYS[1] .. ':log', '1', 'PX', 60000)
return 1
