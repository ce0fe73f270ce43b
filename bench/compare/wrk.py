"""wrk runs: a Lua script per workload (requests picked at random from a pre-formatted set, so
reads spread over the seeded jobs and companies) whose ``done`` prints one JSON line with the
request count, errors and latency percentiles (from wrk's own latency distribution)."""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

DONE = """
done = function(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    '\\n@@{"requests": %d, "duration_us": %d, "non_2xx_3xx": %d, "socket_errors": %d, '
    .. '"p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""
PICK = """
local counter = 0
setup = function(thread)
  counter = counter + 1
  thread:set("id", counter)
end
init = function(args)
  math.randomseed(os.time() * 1000 + id)
  requests = {}
  for i, r in ipairs(plans) do
    requests[i] = wrk.format(r[1], r[2], r[3], r[4])
  end
end
request = function()
  return requests[math.random(#requests)]
end
"""


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: str | None = None


@dataclass(frozen=True)
class Figures:
    requests: int
    seconds: float
    failures: int
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def rate(self) -> float:
        return self.requests / self.seconds


def lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string with these characters is a Lua string too


def lua_script(requests: list[Request]) -> str:
    plans = []
    for request in requests:
        headers = ", ".join(
            f"[{lua_string(k)}] = {lua_string(v)}" for k, v in request.headers.items()
        )
        body = "nil" if request.body is None else lua_string(request.body)
        plans.append(
            f"{{{lua_string(request.method)}, {lua_string(request.path)}, {{{headers}}}, {body}}}"
        )
    return "plans = {\n" + ",\n".join(plans) + "\n}\n" + PICK + DONE


def run_wrk(
    base_url: str,
    requests: list[Request],
    script: Path,
    *,
    threads: int,
    connections: int,
    seconds: int,
) -> Figures:
    script.write_text(lua_script(requests))
    command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    command += ["-s", str(script), base_url]
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    line = next(line for line in output.splitlines() if line.startswith("@@"))
    raw = json.loads(line[2:])
    return Figures(
        requests=raw["requests"],
        seconds=raw["duration_us"] / 1e6,
        failures=raw["non_2xx_3xx"] + raw["socket_errors"],
        p50_ms=raw["p50_us"] / 1000,
        p90_ms=raw["p90_us"] / 1000,
        p99_ms=raw["p99_us"] / 1000,
    )
