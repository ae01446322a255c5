-- GET one employee by id straight from legacy-hr (its own API and key).
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local pick_id
local headers = { ["X-Api-Key"] = os.getenv("LEGACY_HR_API_KEY") }
function init(args) pick_id = common.picker("BENCH_IDS") end
function request()
  return wrk.format("GET", "/api/v1/employees/" .. pick_id(), headers)
end
