-- Create employees straight in legacy-hr, with unique mails.
local counter = 0
local prefix
local threads = 0
local headers = { ["X-Api-Key"] = os.getenv("LEGACY_HR_API_KEY"), ["Content-Type"] = "application/json" }
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  prefix = os.getenv("BENCH_PREFIX") .. "-" .. tostring(tid)
end
function request()
  counter = counter + 1
  local mail = prefix .. "-" .. counter .. "@bench.example"
  local body = '{"mail":"' .. mail .. '","first":"Bench","last":"User","status":"A"}'
  return wrk.format("POST", "/api/v1/employees", headers, body)
end
