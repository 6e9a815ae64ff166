-- wrk script for bench/serving_bench.py: POST one JSON body per request, and print one
-- machine-readable line at the end.
--
--   wrk -t2 -c16 -d8s --latency --timeout 30s -s bench/wrk_post.lua URL -- 'BODY'
--
-- The last line wrk prints is `WRK_JSON {...}`: requests (completed responses, any status),
-- duration_us, the error counts wrk keeps (connect, read, write, timeout, and status: the
-- responses with a status of 400 or above), and latency percentiles in microseconds.

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"

-- runs in every thread before wrk builds its request, so the body is part of it
function init(args)
  wrk.body = args[1]
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, '
      .. '"timeout": %d, "status": %d, "p50_us": %d, "p95_us": %d, "p99_us": %d, '
      .. '"max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.timeout, e.status,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
