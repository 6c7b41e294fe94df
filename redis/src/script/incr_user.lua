-- INCR-USER: counts a user's new calls in a window.
-- KEYS[1]: the user's counter. ARGV[1]: the window (ms).
-- The window starts with the first increment (PEXPIRE then); a counter found without an
-- expiry gets one too. Returns the count.
local count = redis.call('INCR', KEYS[1])
if count == 1 or redis.call('PTTL', KEYS[1]) < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
end
return count
