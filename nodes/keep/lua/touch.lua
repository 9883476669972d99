--[[ Touches the entries this consumer still owns (another may have taken one), so that none
  looks idle while its flow is slow.
  KEYS[1] the stream
  ARGV[1] the group
  ARGV[2] this consumer
  ARGV[3..] the ids
  Returns 0. ]]
local stream, group, me = KEYS[1], ARGV[1], ARGV[2]
for i = 3, #ARGV do
  local pending = redis.call('XPENDING', stream, group, ARGV[i], ARGV[i], 1)
  if pending[1] and pending[1][2] == me then redis.call('XCLAIM', stream, group, me, 0, ARGV[i], 'JUSTID') end
end
return 0
