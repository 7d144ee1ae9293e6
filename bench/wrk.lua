-- Drives one benchmark scenario. The driver (bench/run.py) writes the request paths, sampled from the
-- database so ids and filter values exist, one per line; each request picks one at random.
local paths = {}
for line in io.lines(os.getenv("BENCH_PATHS")) do paths[#paths + 1] = line end
-- Comma-separated tokens, one drawn per request (as that many clients); none for a server without authentication.
local tokens = {}
for token in (os.getenv("BENCH_TOKENS") or ""):gmatch("[^,]+") do tokens[#tokens + 1] = "Token " .. token end
local method = os.getenv("BENCH_METHOD") or "GET"
local body = os.getenv("BENCH_BODY")  -- for writes; every "%d" is replaced by a number unique to the request

local counter = 0
local threads = {}
-- `thread_id` is a global that setup() gives each thread's own Lua state.

function setup(thread)
  thread:set("thread_id", #threads + 1)
  threads[#threads + 1] = thread
end

function init(args)
  math.randomseed(os.time() * 1000 + (thread_id or 0))
end

function request()
  counter = counter + 1
  local headers = {["Content-Type"] = "application/json"}
  if #tokens > 0 then headers["Authorization"] = tokens[math.random(#tokens)] end
  local payload = nil
  if body then
    local unique = tostring((thread_id or 0) * 1000000000000 + math.random(0, 999999) * 1000000 + counter)
    payload = (body:gsub("%%d", unique))
  end
  return wrk.format(method, paths[math.random(#paths)], headers, payload)
end

function done(summary, latency, requests)
  local errors = summary.errors.connect + summary.errors.read + summary.errors.write
    + summary.errors.status + summary.errors.timeout
  io.write(string.format(
    'BENCH_RESULT {"requests": %d, "duration_us": %d, "errors": %d, "p50_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, errors, latency:percentile(50), latency:percentile(99)))
end
