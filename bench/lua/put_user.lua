-- Replaces a random user with a full document (Okta's and OneLogin's update
-- style), keeping its userName.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local ids, names
local n = 0
function init(args)
  ids, names = common.lines("BENCH_IDS"), common.lines("BENCH_NAMES")
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end
function request()
  n = n + 1
  local i = math.random(#ids)
  local name = names[i]:gsub("%%40", "@")
  local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name ..
    '","name":{"givenName":"Put","familyName":"User' .. n .. '"},"displayName":"Put User","active":true,' ..
    '"emails":[{"value":"' .. name .. '","type":"work","primary":true}],"externalId":"' .. name .. '"}'
  return wrk.format("PUT", common.base .. "/Users/" .. ids[i], common.headers, body)
end
