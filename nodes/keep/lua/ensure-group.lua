--[[ Included: creates the consumer group (from the stream's start) unless it exists; an error reply means it does.
  KEYS[1] the stream; ARGV[1] the group. ]]
redis.pcall('XGROUP', 'CREATE', KEYS[1], ARGV[1], '0', 'MKSTREAM')
