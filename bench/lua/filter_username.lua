package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local pick_name
function init(args) pick_name = common.picker("BENCH_NAMES") end
function request()
  return wrk.format("GET", common.base .. "/Users?filter=userName%20eq%20%22" .. pick_name() .. "%22", common.headers)
end
