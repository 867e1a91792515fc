--[[
  base36(n): a whole number >= 0 in lowercase base 36 (what JavaScript's parseInt(s, 36)
  reads back). Millisecond times take 8 characters instead of 13 to 15 digits: the merge
  keeps two in every event-id marker for the whole dedupe window. It makes the receivedAt
  one with this; the client sends occurredAt already in base 36 (cheaper than this loop).
]]
local BASE36_DIGITS = '0123456789abcdefghijklmnopqrstuvwxyz'
local function base36(n)
  n = math.floor(n)
  if n <= 0 then return '0' end
  local s = ''
  while n > 0 do
    local d = n % 36
    s = string.sub(BASE36_DIGITS, d + 1, d + 1) .. s
    n = math.floor(n / 36)
  end
  return s
end
