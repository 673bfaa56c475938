-- wrk script for the phones API, product and reference alike.
-- Arguments (after --): mode prefix token run fixture
--   mode    post | patch | list | get
--   prefix  "/accounts/v1/accounts" (product) or "/ref/accounts" (reference)
--   token   JWT for the Authorization header, or "-" for none
--   run     small integer making this run's numbers/accounts unique
--   fixture file with "account_id phone_id" lines (patch, list, get)
-- Prints one JSON line at the end: requests, duration, errors, latency percentiles (us).

local counter = 0
local next_tid = 0
local pairs_ = {}

function setup(thread)
  thread:set("tid", next_tid)
  next_tid = next_tid + 1
end

function init(args)
  mode = args[1]
  prefix = args[2]
  token = args[3]
  run = tonumber(args[4])
  headers = { ["Content-Type"] = "application/json" }
  if token ~= "-" then
    headers["Authorization"] = "Bearer " .. token
  end
  if args[5] and args[5] ~= "-" then
    for line in io.lines(args[5]) do
      local a, p = line:match("(%d+) (%d+)")
      if a then
        pairs_[#pairs_ + 1] = { a, p }
      end
    end
  end
  math.randomseed(run * 1000 + tid)
end

function request()
  counter = counter + 1
  if mode == "post" then
    -- Unique per request: the account carries run and thread, the number the counter.
    local account = 1000000000 + run * 100 + tid
    local body = string.format('{"number":"9%08d","type":"MOBILE","area_code":11,"country_code":55}', counter)
    return wrk.format("POST", string.format("%s/%.0f/phones", prefix, account), headers, body)
  end
  local pick = pairs_[math.random(#pairs_)]
  if mode == "patch" then
    local body = string.format('{"number":"8%02d%02d%06d","extension":"%d"}', run % 100, tid, counter, counter % 100000)
    return wrk.format("PATCH", string.format("%s/%s/phones/%s", prefix, pick[1], pick[2]), headers, body)
  elseif mode == "list" then
    return wrk.format("GET", string.format("%s/%s/phones", prefix, pick[1]), headers)
  else
    return wrk.format("GET", string.format("%s/%s/phones/%s", prefix, pick[1], pick[2]), headers)
  end
end

local first_bad = nil

function response(status, hdrs, body)
  if status >= 300 and first_bad == nil then
    first_bad = status .. " " .. string.sub(body or "", 1, 200)
    io.stderr:write("wrk: first non-2xx response: " .. first_bad .. "\n")
  end
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
      '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
