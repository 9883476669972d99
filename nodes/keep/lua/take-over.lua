--[[ Takes over a page of the entries another consumer left idle (it stopped, or died).
  KEYS[1] the stream
  ARGV[1] the group
  ARGV[2] this consumer
  ARGV[3] the idle time, in ms, past which an entry is taken
  ARGV[4] the cursor ("0-0" to start)
  Returns {the next cursor, the entries taken: {id, fields, count}}. Entries deleted meanwhile are acknowledged. ]]
-- @include with-counts
-- @include ensure-group
local reply = redis.call('XAUTOCLAIM', KEYS[1], ARGV[1], ARGV[2], ARGV[3], ARGV[4], 'COUNT', {{PAGE}})
local deleted = reply[3]
if deleted and #deleted > 0 then redis.call('XACK', KEYS[1], ARGV[1], unpack(deleted)) end
return {reply[1], withCounts(KEYS[1], ARGV[1], reply[2])}
