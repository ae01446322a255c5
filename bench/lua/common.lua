-- Shared by the load scripts: the token, the SCIM base path, and random
-- picks from a file.
local common = {}

common.headers = {
  ["Authorization"] = "Bearer " .. os.getenv("SCIMGATE_TOKEN"),
  ["Content-Type"] = "application/scim+json",
}

-- The path the SCIM endpoints live under: the gateway's by default, another
-- server's (the peer's) when the harness says so.
common.base = os.getenv("BENCH_BASE") or "/scim/v2"

-- The lines of the file named by environment variable `var`.
function common.lines(var)
  local lines = {}
  for line in io.lines(os.getenv(var)) do lines[#lines + 1] = line end
  return lines
end

-- A function returning a random line of the file named by environment
-- variable `var` (read once, in the calling thread).
function common.picker(var)
  local lines = common.lines(var)
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  return function() return lines[math.random(#lines)] end
end

return common
