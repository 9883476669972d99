--[[ Keeps the events of one delivery, within the bounds, and reads them into this consumer.
  KEYS[1] the endpoint's stream
  KEYS[2] its byte count
  ARGV[1] the group
  ARGV[2] this consumer
  ARGV[3] the most events the stream holds
  ARGV[4] the most payload bytes it holds
  ARGV[5..] {{FIELDS_PER_EVENT}} fields per event: d i r v t a p m
  Returns {the ids added, entries never read before (a group made after them): {id, fields, count}},
  or {'full'} past a bound (nothing added). ]]
-- @include with-counts
-- @include ensure-group
local stream, group = KEYS[1], ARGV[1]
local events, bytes = 0, 0
for i = 5, #ARGV, {{FIELDS_PER_EVENT}} do
  events = events + 1
  bytes = bytes + #ARGV[i + 6]
end
local held = tonumber(redis.call('GET', KEYS[2]) or '0')
if redis.call('XLEN', stream) + events > tonumber(ARGV[3]) or held + bytes > tonumber(ARGV[4]) then return {'full'} end
redis.call('INCRBY', KEYS[2], bytes)
local added, mine = {}, {}
for i = 5, #ARGV, {{FIELDS_PER_EVENT}} do
  local id = redis.call('XADD', stream, '*', 'd', ARGV[i], 'i', ARGV[i + 1], 'r', ARGV[i + 2], 'v', ARGV[i + 3], 't', ARGV[i + 4], 'a', ARGV[i + 5], 'p', ARGV[i + 6], 'm', ARGV[i + 7])
  added[#added + 1] = id
  mine[id] = true
end
local read = redis.call('XREADGROUP', 'GROUP', group, ARGV[2], 'COUNT', #added + {{PAGE}}, 'STREAMS', stream, '>')
local strays = {}
if read then
  for _, entry in ipairs(read[1][2]) do
    if not mine[entry[1]] then strays[#strays + 1] = entry end
  end
end
return {added, withCounts(stream, group, strays)}
