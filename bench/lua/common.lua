-- Shared by the load scripts: the token, and random picks from a file.
local common = {}

common.headers = {
  ["Authorization"] = "Bearer " .. os.getenv("SCIMGATE_TOKEN"),
  ["Content-Type"] = "application/scim+json",
}

-- A function returning a random line of the file named by environment
-- variable `var` (read once, in the calling thread).
function common.picker(var)
  local lines = {}
  for line in io.lines(os.getenv(var)) do lines[#lines + 1] = line end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
  return function() return lines[math.random(#lines)] end
end

return common
