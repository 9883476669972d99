--[[ Forgets handled entries: acknowledged and deleted, their bytes counted out.
  KEYS[1] the stream
  KEYS[2] its parked stream
  KEYS[3] the stream's byte count
  ARGV[1] the group
  ARGV[2..] ids of the stream, then "|", then ids of the parked stream
  Returns 0. ]]
-- @include payload-length
local ids, parked, into = {}, {}, nil
into = ids
for i = 2, #ARGV do
  if ARGV[i] == '|' then into = parked else into[#into + 1] = ARGV[i] end
end
if #ids > 0 then
  local bytes = 0
  for _, id in ipairs(ids) do bytes = bytes + payloadLength(KEYS[1], id) end
  redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
  if redis.call('XDEL', KEYS[1], unpack(ids)) > 0 and bytes > 0 then redis.call('DECRBY', KEYS[3], bytes) end
end
if #parked > 0 then redis.call('XDEL', KEYS[2], unpack(parked)) end
return 0
