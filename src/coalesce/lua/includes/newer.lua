--[[
  newer(a, b): is stamp a later than stamp b (b may be false)? Event time first (the first
  15 characters, src/redis/keys.ts), then the event id byte by byte. Lua's own string `<`
  follows the server's locale (strcoll), so it cannot be trusted to order ids the same way
  everywhere.
]]
local function newer(a, b)
  if not b then return true end
  local ta, tb = tonumber(string.sub(a, 1, 15)), tonumber(string.sub(b, 1, 15))
  if ta ~= tb then return ta > tb end
  local la, lb = #a, #b
  for k = 17, math.min(la, lb) do
    local ca, cb = string.byte(a, k), string.byte(b, k)
    if ca ~= cb then return ca > cb end
  end
  return la > lb
end
