package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local pick_id
function init(args) pick_id = common.picker("BENCH_IDS") end
function request()
  return wrk.format("GET", common.base .. "/Users/" .. pick_id(), common.headers)
end
