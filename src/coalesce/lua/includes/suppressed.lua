--[[
  suppression(root, now): a function `isSuppressed(vk)` for one script call, true while the
  visitor was forgotten (forget-visitor.lua) and its suppression has not expired. Members of
  `<root>:suppressed` are SHA-1 hex digests of visitor keys (redis.sha1hex; the id itself is
  not kept), scored by when the suppression ends. One EXISTS per call: while nobody is
  suppressed, no visitor costs a lookup; answers are cached per visitor within the call.
]]
local function suppression(root, now)
  local key = root .. ':suppressed'
  if redis.call('EXISTS', key) == 0 then return function() return false end end
  local cache = {}
  return function(vk)
    local known = cache[vk]
    if known == nil then
      local untilMs = redis.call('ZSCORE', key, redis.sha1hex(vk))
      known = untilMs ~= false and tonumber(untilMs) > now
      cache[vk] = known
    end
    return known
  end
end
