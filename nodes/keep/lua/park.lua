--[[ Parks events past their max. attempts: moved to the parked stream, which ages out and is
  bounded in number (the oldest go).
  KEYS[1] the stream
  KEYS[2] its parked stream
  KEYS[3] the stream's byte count
  ARGV[1] the group
  ARGV[2] the oldest parked id kept
  ARGV[3] the most parked entries kept
  ARGV[4..] per event: its id, its attempts, then its {{FIELDS_PER_EVENT}} fields
  Returns the parked ids. ]]
-- @include payload-length
local stream, parked, group = KEYS[1], KEYS[2], ARGV[1]
local moved = {}
for i = 4, #ARGV, {{FIELDS_PER_EVENT}} + 2 do
  local a = i + 2
  moved[#moved + 1] = redis.call('XADD', parked, '*', 'd', ARGV[a], 'i', ARGV[a + 1], 'r', ARGV[a + 2], 'v', ARGV[a + 3], 't', ARGV[a + 4], 'a', ARGV[a + 5], 'p', ARGV[a + 6], 'm', ARGV[a + 7], 'n', ARGV[i + 1])
  local bytes = payloadLength(stream, ARGV[i])
  redis.call('XACK', stream, group, ARGV[i])
  if redis.call('XDEL', stream, ARGV[i]) > 0 and bytes > 0 then redis.call('DECRBY', KEYS[3], bytes) end
end
redis.call('XTRIM', parked, 'MINID', ARGV[2])
redis.call('XTRIM', parked, 'MAXLEN', ARGV[3])
return moved
