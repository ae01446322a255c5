-- Creates users with unique userNames: a per-run prefix, the thread and a counter.
package.path = os.getenv("BENCH_LUA_DIR") .. "/?.lua;" .. package.path
local common = require("common")
local counter = 0
local prefix
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  prefix = os.getenv("BENCH_PREFIX") .. "-" .. tostring(tid)
end
function request()
  counter = counter + 1
  local name = prefix .. "-" .. counter .. "@bench.example"
  local body = '{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":"' .. name ..
    '","name":{"givenName":"Bench","familyName":"User"},"displayName":"Bench User","active":true,' ..
    '"emails":[{"value":"' .. name .. '","type":"work","primary":true}],"externalId":"' .. name .. '"}'
  return wrk.format("POST", common.base .. "/Users", common.headers, body)
end
