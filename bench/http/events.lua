-- wrk script for bench/http/run: the proxies' event traffic.
--
-- Requests alternate POST /events/stream_started and POST
-- /events/stream_ended. Stream number n of a wrk thread gets a unique
-- 40-hex content id and playback session (the run's and the thread's
-- numbers are in both), and goes to engine n mod N at
-- 127.0.0.1:<port base + that>, the engine's advertised address, as Acexy
-- reports it. Its stream id is the contract's default,
-- "<key>|<playback_session_id>".
--
-- A stream_ended names a stream whose stream_started has been answered:
-- response() queues the id each start reply carries, and an end takes
-- the oldest. (With 16 connections per thread and two gateway loops, an
-- end built from a counter alone can overtake its start, find no stream
-- and leave that stream active for ever; on a busy 2-core machine about
-- 1% did.) When no answered start is waiting, the request is a start
-- instead. So every stream started is ended once, and a thread holds at
-- most about as many active streams as it has connections. The reply is
-- checked only by its status (wrk counts non-2xx) and its first bytes.
--
-- Arguments (after wrk's "--"): port_base n_engines [run]; run (a number)
-- keeps the ids of two wrk runs against one server apart.
--   wrk -t2 -c32 -d10s -s events.lua http://127.0.0.1:PORT -- 19000 10 1

local port_base, n_engines, run = 19000, 10, 0
local tid = 0   -- this thread's number (set by setup in the main state)
local i = 0     -- requests built by this thread
local n = 0     -- streams started by this thread
local answered, head, tail = {}, 1, 0 -- ids of answered starts, a queue

-- The main Lua state: number the threads.
local counter = 0
function setup(thread)
   counter = counter + 1
   thread:set("tid", counter)
end

function init(args)
   port_base = tonumber(args[1]) or port_base
   n_engines = tonumber(args[2]) or n_engines
   run = tonumber(args[3]) or run
   tid = tonumber(_G.tid) or 0
end

local headers = { ["Content-Type"] = "application/json" }

local function start()
   n = n + 1
   local port = port_base + (n % n_engines)
   -- 40 hex digits: run, thread, stream number, and a fixed tail.
   local k = string.format("%04x%04x%08x", run, tid, n) ..
      "be0c4a1d5e6f7a8b9c0d1e2f"
   local s = string.format("bench-%d-%d-%d", run, tid, n)
   local body = string.format(
      '{"container_id":"acexy-bench",' ..
      '"engine":{"host":"127.0.0.1","port":%d},' ..
      '"stream":{"key_type":"content_id","key":"%s"},' ..
      '"session":{"playback_session_id":"%s",' ..
      '"stat_url":"http://127.0.0.1:%d/ace/stat/%s/%s",' ..
      '"command_url":"http://127.0.0.1:%d/ace/cmd/%s/%s",' ..
      '"is_live":1},"labels":{}}',
      port, k, s, port, k, s, port, k, s)
   return wrk.format("POST", "/events/stream_started", headers, body)
end

function request()
   i = i + 1
   if i % 2 == 1 or head > tail then
      return start()
   end
   local id = answered[head]
   answered[head] = nil
   head = head + 1
   return wrk.format("POST", "/events/stream_ended", headers,
      string.format('{"stream_id":"%s","reason":"bench"}', id))
end

function response(status, headers, body)
   if status == 200 then
      -- A start's reply is the Stream: {"id":"<key>|<session>",...}
      local id = string.match(body, '^{"id":"([^"]+)"')
      if id then
         tail = tail + 1
         answered[tail] = id
      end
   end
end
