-- Shared by the load scripts: the token, and lines of a file chosen at random.
local common = {}

common.headers = {
  ["Authorization"] = "Bearer " .. os.getenv("SCIMGATE_TOKEN"),
  ["Content-Type"] = "application/scim+json",
}

function common.read_lines(path)
  local lines = {}
  for line in io.lines(path) do lines[#lines + 1] = line end
  return lines
end

return common
