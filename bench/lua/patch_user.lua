package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local ids
local n = 0
function init(args)
  ids = common.read_lines(os.getenv("BENCH_IDS"))
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end
function request()
  n = n + 1
  local body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[' ..
    '{"op":"Replace","path":"name.familyName","value":"Patched' .. n .. '"},' ..
    '{"op":"Replace","path":"active","value":"True"}]}'
  return wrk.format("PATCH", "/scim/v2/Users/" .. ids[math.random(#ids)], common.headers, body)
end
