-- wrk script of bench/webhook_ingest.py: every request a distinct body, every status counted.
--   wrk -t1 -cN -dS -s bench/wrk_distinct.lua URL -- OFFSET PATH TEMPLATE_FILE
-- TEMPLATE_FILE holds the body with two `%d` (string.format): both get the request's number, OFFSET,
-- OFFSET + 1, ... so no two bodies of a run (nor of runs with distant offsets) are alike: the gateway
-- dedupes by content, so a repeated body would measure its duplicate path, not durable writes.
-- done() prints one line: RESULT {json} with the request count, latency percentiles (µs) and statuses.
local counter, offset = 0, 0
local template, path
local threads = {}
statuses = {}  -- global: done() reads it from each thread

function setup(thread) table.insert(threads, thread) end

function init(args)
  offset = tonumber(args[1]); path = args[2]
  local f = assert(io.open(args[3], "rb")); template = f:read("*a"); f:close()
end

function request()
  local i = offset + counter
  counter = counter + 1
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, string.format(template, i, i))
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total, out = {}, {}
  for _, thread in ipairs(threads) do
    for status, n in pairs(thread:get("statuses")) do total[status] = (total[status] or 0) + n end
  end
  for status, n in pairs(total) do out[#out + 1] = string.format('"%d":%d', status, n) end
  local e = summary.errors
  io.write(string.format('RESULT {"requests":%d,"duration_us":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,' ..
    '"max_us":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"statuses":{%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90), latency:percentile(99),
    latency.max, e.connect, e.read, e.write, e.status, e.timeout, table.concat(out, ",")))
end
