-- CREATE: the room's call, created if there is none (SET with PX, only when no call is
-- there: the check and the SET are one script).
-- KEYS[1]: the room's key. ARGV[1]: the value of the call to create. ARGV[2]: the idle
-- timeout (ms). ARGV[3]: the longest value read. ARGV[4]: '1' to replace a tombstone (a new
-- call), '0' to leave it (a re-assertion: the call it would bring back has ended).
-- Returns {'call', value} (the call there afterwards: the one given, or the one already
-- there, touched), {'ended'} (a tombstone kept), or {'corrupt', why} (left as it is).
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'string' then
  local length = redis.call('STRLEN', KEYS[1])
  if length > tonumber(ARGV[3]) then
    return {'corrupt', 'a ' .. length .. '-byte value'}
  end
  local value = redis.call('GET', KEYS[1])
  if string.sub(value, 1, 4) == 'cs1 ' then
    redis.call('PEXPIRE', KEYS[1], ARGV[2])
    return {'call', value}
  end
  if string.sub(value, 1, 10) ~= 'cs1-ended ' then
    return {'corrupt', 'a ' .. length .. '-byte value without the cs1 tag'}
  end
  if ARGV[4] ~= '1' then
    return {'ended'}
  end
elseif kind ~= 'none' then
  return {'corrupt', 'a key of type ' .. kind}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {'call', ARGV[1]}
