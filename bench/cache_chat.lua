-- A deterministic chat request (temperature 0), so the gateway may cache it.
-- CACHE=skip sends x-comox-cache: skip (every request proxied); BENCH_STREAM=1 asks for a stream.
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
if os.getenv("CACHE") and os.getenv("CACHE") ~= "" then
  wrk.headers["x-comox-cache"] = os.getenv("CACHE")
end
wrk.body = '{"model":"bench","temperature":0,"messages":[{"role":"user","content":"Say hello in one short sentence."}],"max_tokens":32'
  .. (os.getenv("BENCH_STREAM") == "1" and ',"stream":true' or '') .. '}'
