package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local pick_id
local n = 0
function init(args) pick_id = common.picker("BENCH_IDS") end
function request()
  n = n + 1
  local body = '{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[' ..
    '{"op":"Replace","path":"name.familyName","value":"Patched' .. n .. '"},' ..
    '{"op":"Replace","path":"active","value":"True"}]}'
  return wrk.format("PATCH", common.base .. "/Users/" .. pick_id(), common.headers, body)
end
