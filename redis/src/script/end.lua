-- END: compare-and-delete. Only if the room's call is the named one, replace it with its
-- tombstone `cs1-ended <start> <conferenceID>` (PX: the idle timeout).
-- KEYS[1]: the room's key. ARGV[1]: the conferenceID of the call to end. ARGV[2]: the idle
-- timeout (ms). ARGV[3]: the longest value read.
-- Returns 1 if it ended the call, 0 if not (another call, a tombstone, no key), or
-- {'corrupt', why} for anything this registry did not write, left as it is.
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then
  return 0
end
if kind ~= 'string' then
  return {'corrupt', 'a key of type ' .. kind}
end
local length = redis.call('STRLEN', KEYS[1])
if length > tonumber(ARGV[3]) then
  return {'corrupt', 'a ' .. length .. '-byte value'}
end
local value = redis.call('GET', KEYS[1])
if string.sub(value, 1, 10) == 'cs1-ended ' then
  return 0
end
local start, id = string.match(value, '^cs1 (%d+) (.*)$')
if not start then
  return {'corrupt', 'a ' .. length .. '-byte value without the cs1 tag'}
end
if id ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], 'cs1-ended ' .. start .. ' ' .. id, 'PX', ARGV[2])
return 1
