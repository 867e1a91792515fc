--[[
  addSources(list, more): the sources of the values a visitor holds (`_src`: comma-separated,
  distinct, bounded), so a failed delivery can say which producers sent them. Either list may
  be false; returns the merged list (the same string when nothing was added).
]]
local function addSources(list, more)
  if not more then return list end
  if not list then return more end
  for one in string.gmatch(more, '[^,]+') do
    if #list < 200 and not string.find(',' .. list .. ',', ',' .. one .. ',', 1, true) then list = list .. ',' .. one end
  end
  return list
end
