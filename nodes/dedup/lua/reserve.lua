--[[ Reserves the identities of one delivery: each is new (now held, "p:<owner>", until
  acknowledged or released), busy (another delivery holds it) or seen (acknowledged, "d").
  Keeps the highest position of each stream, and bounds both indexes in time and count.
  KEYS[1] the identity index (a sorted set by time)
  KEYS[2] the stream index
  KEYS[3..] per identity: its key, then its stream's highest-position key
  ARGV[1] the owner (this delivery)
  ARGV[2] how long a reservation holds, in ms
  ARGV[3] the window, in ms
  ARGV[4] the most identities (and streams) kept
  ARGV[5] now, in ms
  ARGV[6..] per identity: its position in its stream, or "-"
  Returns per identity: its status (0 new, 1 busy, 2 seen), the previous highest position (-2: no stream). ]]
local owner, pending, window, max, now = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local ids, streams = KEYS[1], KEYS[2]
redis.call('ZREMRANGEBYSCORE', ids, '-inf', now - window)
redis.call('ZREMRANGEBYSCORE', streams, '-inf', now - window)
local result = {}
for i = 1, (#KEYS - 2) / 2 do
  local id, highest, position = KEYS[2 * i + 1], KEYS[2 * i + 2], ARGV[5 + i]
  if redis.call('SET', id, 'p:' .. owner, 'NX', 'PX', pending) then
    redis.call('ZADD', ids, now, id)
    local previous = -2
    if position ~= '-' then
      previous = tonumber(redis.call('GET', highest) or '-1')
      redis.call('SET', highest, math.max(previous, tonumber(position)), 'PX', window)
      redis.call('ZADD', streams, now, highest)
    end
    table.insert(result, 0)
    table.insert(result, previous)
  elseif string.sub(redis.call('GET', id) or 'd', 1, 2) == 'p:' then
    table.insert(result, 1)
    table.insert(result, -2)
  else
    table.insert(result, 2)
    table.insert(result, -2)
  end
end
for _, index in ipairs({ids, streams}) do
  local excess = redis.call('ZCARD', index) - max
  if excess > 0 then
    local oldest = redis.call('ZPOPMIN', index, excess)
    for j = 1, #oldest, 2 do redis.call('DEL', oldest[j]) end
  end
end
redis.call('PEXPIRE', ids, window)
redis.call('PEXPIRE', streams, window)
return result
