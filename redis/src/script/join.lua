-- JOIN: the room's call, touched; never creates anything.
-- KEYS[1]: the room's key. ARGV[1]: the idle timeout (ms). ARGV[2]: the longest value read.
-- Returns {'call', value} (touched: PEXPIRE), {'ended'} (a tombstone), {'missing'} (no key),
-- or {'corrupt', why} for anything this registry did not write, left as it is (TTL too).
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then
  return {'missing'}
end
if kind ~= 'string' then
  return {'corrupt', 'a key of type ' .. kind}
end
local length = redis.call('STRLEN', KEYS[1])
if length > tonumber(ARGV[2]) then
  return {'corrupt', 'a ' .. length .. '-byte value'}
end
local value = redis.call('GET', KEYS[1])
if string.sub(value, 1, 4) == 'cs1 ' then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  return {'call', value}
end
if string.sub(value, 1, 10) == 'cs1-ended ' then
  return {'ended'}
end
return {'corrupt', 'a ' .. length .. '-byte value without the cs1 tag'}
