--[[ Included: the length of an entry's payload (field p), so that the stream's byte count goes
  down as the entry leaves. ]]
local function payloadLength(stream, id)
  local entry = redis.call('XRANGE', stream, id, id)
  if not entry[1] then return 0 end
  local fields = entry[1][2]
  for f = 1, #fields, 2 do
    if fields[f] == 'p' then return #fields[f + 1] end
  end
  return 0
end
