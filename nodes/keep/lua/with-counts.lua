--[[ Included: the delivery count of each entry of an XREADGROUP or XAUTOCLAIM reply, beside
  it: {id, fields, count}. Entries deleted meanwhile (no fields) are left out. ]]
local function withCounts(stream, group, entries)
  local out = {}
  for _, entry in ipairs(entries) do
    if entry and entry[2] then
      local pending = redis.call('XPENDING', stream, group, entry[1], entry[1], 1)
      out[#out + 1] = {entry[1], entry[2], pending[1] and pending[1][4] or 1}
    end
  end
  return out
end
