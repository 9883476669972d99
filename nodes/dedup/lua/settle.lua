--[[ Settles what a delivery reserved: acknowledged ("d", remembered for the window or longer),
  or released (deleted), only where this owner still holds it.
  KEYS[1] the identity index
  KEYS[2..] the identity keys
  ARGV[1] the owner
  ARGV[2] the window in ms, or "" to release
  ARGV[3..] per key: how long it is remembered when longer than the window ("": the window)
  Returns 0. ]]
for i = 2, #KEYS do
  local id = KEYS[i]
  if redis.call('GET', id) == 'p:' .. ARGV[1] then
    if ARGV[2] == '' then
      redis.call('DEL', id)
      redis.call('ZREM', KEYS[1], id)
    else
      local keep = ARGV[i + 1]
      redis.call('SET', id, 'd', 'PX', tonumber((keep and keep ~= '') and keep or ARGV[2]))
    end
  end
end
return 0
