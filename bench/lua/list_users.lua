-- Lists 100 users per page from a random start, as an IdP's full sync pages.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local last_start = math.max(1, tonumber(os.getenv("BENCH_USERS")) - 100)
function init(args) math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16)) end
function request()
  local start = math.random(last_start)
  return wrk.format("GET", common.base .. "/Users?startIndex=" .. start .. "&count=100", common.headers)
end
