--[[ A page of parked entries.
  KEYS[1] the parked stream
  ARGV[1] the id to start at
  Returns the entries: {id, fields}. ]]
return redis.call('XRANGE', KEYS[1], ARGV[1], '+', 'COUNT', {{PAGE}})
