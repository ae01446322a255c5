package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local names
function init(args)
  names = common.read_lines(os.getenv("BENCH_NAMES"))
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end
function request()
  local name = names[math.random(#names)]
  return wrk.format("GET", "/scim/v2/Users?filter=userName%20eq%20%22" .. name .. "%22", common.headers)
end
