-- The request of post_chat.lua (same env: BENCH_KEY, BENCH_MODEL, BENCH_STREAM), plus a tally of
-- the response status codes, printed at the end as "status CODE COUNT" lines. Used for the soak,
-- where knowing whether non-2xx answers are 502s, 503s or 429s matters; the matrix uses the
-- plain post_chat.lua (a Lua callback per response costs wrk throughput).
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_KEY") or "sk-bench")
wrk.body = '{"model":"' .. (os.getenv("BENCH_MODEL") or "bench") .. '","messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":32' .. (os.getenv("BENCH_STREAM") == "1" and ',"stream":true' or '') .. '}'

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  statuses = {}
end

function response(status, headers, body)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    for code, n in pairs(thread:get("statuses") or {}) do
      total[code] = (total[code] or 0) + n
    end
  end
  for code, n in pairs(total) do
    io.write(string.format("status %d %d\n", code, n))
  end
end
