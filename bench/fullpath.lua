-- Sends each pre-signed body once: thread k of n takes lines k, k+n, … of the file given after -- (with n).
-- A thread that runs out starts its slice again and counts the repeats, which done() prints.
local threads = {}

function setup(thread)
  thread:set("id", #threads)
  threads[#threads + 1] = thread
end

function init(args)
  local count = tonumber(args[2])
  requests, index, wrapped, repeated = {}, 0, false, 0
  local line_number = 0
  for line in io.lines(args[1]) do
    if line_number % count == id then
      local signature, body = line:match("^([^\t]*)\t(.*)$")
      requests[#requests + 1] = wrk.format("POST", "/taskrouter/events", {
        ["Content-Type"] = "application/x-www-form-urlencoded",
        ["X-Twilio-Signature"] = signature,
      }, body)
    end
    line_number = line_number + 1
  end
end

function request()
  index = index + 1
  if index > #requests then
    index, wrapped = 1, true
  end
  if wrapped then
    repeated = repeated + 1
  end
  return requests[index]
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + (thread:get("repeated") or 0)
  end
  io.write(string.format("Repeated bodies: %d\n", total))
end
