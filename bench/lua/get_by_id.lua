package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local ids
function init(args)
  ids = common.read_lines(os.getenv("BENCH_IDS"))
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end
function request()
  return wrk.format("GET", "/scim/v2/Users/" .. ids[math.random(#ids)], common.headers)
end
