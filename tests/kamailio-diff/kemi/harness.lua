-- KEMI side-by-side harness: ksr_request_route runs T[<R-URI user>] of
-- cases.lua and answers 200 with the result serialised as the reason phrase.
local function ser(v, depth)
  depth = depth or 0
  local t = type(v)
  if t == "nil" then return "nil" end
  if t == "boolean" then return tostring(v) end
  if t == "number" then
    if math.type and math.type(v) == "float" then return "f" .. tostring(v) end
    return tostring(v)
  end
  if t == "string" then return string.format("%q", v) end
  if t == "table" then
    if depth > 5 then return "{...}" end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local out = {}
    for _, k in ipairs(keys) do out[#out + 1] = tostring(k) .. "=" .. ser(v[k], depth + 1) end
    return "{" .. table.concat(out, ",") .. "}"
  end
  return t
end
function R(...)
  local n = select("#", ...)
  local out = {}
  for i = 1, n do out[i] = ser((select(i, ...))) end
  return table.concat(out, " | ")
end
T = {}
-- cases.lua sits next to this file
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "cases.lua")
function ksr_request_route()
  local name = KSR.pv.get("$rU")
  local f = T[name]
  if not f then KSR.sl.send_reply(500, "no test"); return end
  local ok, res = pcall(f)
  if not ok then res = "ERROR " .. tostring(res) end
  res = string.gsub(tostring(res), "[\r\n]", " ")
  KSR.sl.send_reply(200, res)
end
