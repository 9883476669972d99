--[[ A page of this consumer's own pending entries (read back after a restart).
  KEYS[1] the stream
  ARGV[1] the group
  ARGV[2] this consumer
  ARGV[3] the id to read after
  Returns the entries: {id, fields, count}. ]]
-- @include with-counts
-- @include ensure-group
local read = redis.call('XREADGROUP', 'GROUP', ARGV[1], ARGV[2], 'COUNT', {{PAGE}}, 'STREAMS', KEYS[1], ARGV[3])
if not read then return {} end
return withCounts(KEYS[1], ARGV[1], read[1][2])
