-- wrk script for bench/broker.sh: each request asks `clawc serve` for a new task with a token of its own, paced to
-- a fixed rate (open loop: a request late on its schedule goes at once) or as fast as the connections allow.
--
--   wrk -t T -c C -d D -s bench/broker.lua URL -- TOKENS_FILE RUN_ID RATE T [MODE]
--
-- TOKENS_FILE: one token per line, each used once (thread i takes lines i, i+T, ...). RATE: requests per second for
-- the whole run, 0 for no pacing. MODE: `broker` (default) posts tasks to /v1/credentials; `sts` posts a
-- GetScopedCredentials form to the STS peer itself, to measure it alone. Prints one JSON line: latency percentiles in
-- microseconds, requests, statuses other than 200, tokens left unused.
local ffi = require("ffi")
ffi.cdef [[
  typedef struct { long tv_sec; long tv_nsec; } timespec;
  int clock_gettime(int clk_id, timespec *tp);
]]
local ts = ffi.new("timespec")
local function now_ms()
  ffi.C.clock_gettime(1, ts) -- CLOCK_MONOTONIC
  return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

local threads = {}
local counter = 0

function setup(thread)
  thread:set("index", counter)
  counter = counter + 1
  table.insert(threads, thread)
end

function init(args)
  local file, run, rate, mode = args[1], args[2], tonumber(args[3] or "0"), args[5] or "broker"
  local thread_count = tonumber(args[4] or "1")
  tokens = {}
  local i = 0
  for line in io.lines(file) do
    if i % thread_count == index then table.insert(tokens, line) end
    i = i + 1
  end
  next_token = 1
  run_id = run
  sts_mode = (mode == "sts")
  interval = rate > 0 and (1000 * thread_count / rate) or 0
  next_send = nil
  bad = 0
  exhausted = 0
  statuses = {}
end

function delay()
  if interval == 0 then return 0 end
  local t = now_ms()
  if next_send == nil then next_send = t end
  next_send = next_send + interval
  local wait = next_send - t
  if wait < 0 then return 0 end
  return wait
end

function request()
  if sts_mode then
    return wrk.format("POST", "/", {["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"},
      "Action=GetScopedCredentials&Version=2011-06-15&DurationSeconds=900&Policy=%7B%7D&ScopedSessionDescription=bench")
  end
  local token = tokens[next_token]
  if token == nil then
    exhausted = exhausted + 1
    token = tokens[1]
  end
  local n = next_token
  next_token = next_token + 1
  local body = string.format('{"taskId":"b-%s-%d-%d","purpose":"log-analysis","tags":{"bucket":"acme-logs-123"}}', run_id, index, n)
  return wrk.format("POST", "/v1/credentials", {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, body)
end

function response(status, headers, body)
  if status ~= 200 then
    bad = bad + 1
    statuses[status] = (statuses[status] or 0) + 1
  end
end

function done(summary, latency, requests)
  local bad_total, exhausted_total, codes = 0, 0, {}
  for _, thread in ipairs(threads) do
    bad_total = bad_total + thread:get("bad")
    exhausted_total = exhausted_total + thread:get("exhausted")
    local s = thread:get("statuses")
    for code, n in pairs(s) do codes[#codes + 1] = string.format('"%d":%d', code, n) end
  end
  io.write(string.format(
    '{"requests":%d,"seconds":%.3f,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d,"mean_us":%.1f,"non_200":%d,"statuses":{%s},"tokens_short":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, latency.mean, bad_total, table.concat(codes, ","), exhausted_total,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
