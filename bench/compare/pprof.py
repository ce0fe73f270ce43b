"""A CPU profile of kube-apiserver (its own ``/debug/pprof/profile``), and where it went.

The API server serves Go's pprof endpoints to a caller allowed the ``/debug/pprof`` URLs
(the control plane's admin); ``go tool pprof`` reads the profile without the binary. The
summary gives, for each part of a create's path, the largest cumulative share among the
functions of that part (a share of all the server's samples; parts nest, so they do not add
up to 100%).
"""

from __future__ import annotations

import re
import shutil
import ssl
import subprocess
import urllib.request
from pathlib import Path

PARTS: dict[str, str] = {
    "decode a create's body (JSON, the CRD schema's coercion)": (
        r"apiserver\.schemaCoercingDecoder\.Decode$"
    ),
    "admission plugins": r"apiserver/pkg/admission.*\.(Admit|Validate)$",
    "managedFields (field manager)": r"managedfields|fieldmanager",
    "store the object (validate, write)": r"registry\.\(\*Store\)\.Create$",
    "  validate (CRD schema, CEL rules, metadata)": r"registry/rest\.BeforeCreate$",
    "    of it CEL rules": r"apiserver/schema/cel\.|github\.com/google/cel-go",
    "  write to etcd (encode, txn)": r"storage/etcd3\.\(\*store\)\.Create$",
    "encode the response": r"responsewriters\.(WriteObjectNegotiated|SerializeObject)$",
    "watch: decode etcd's events for the watch cache": r"etcd3\.\(\*watchChan\)\.transform$",
    "audit log (events and the file)": r"apiserver/pkg/audit\.",
    "TLS and HTTP/2 framing": r"^crypto/tls\.|golang\.org/x/net/http2\.\(\*serverConn\)",
    "garbage collector": r"^runtime\.gcBgMarkWorker$",
}


def capture(url: str, token: str, ca: Path, seconds: int, out: Path) -> Path:
    """Sample the server's CPU for ``seconds`` (blocks that long) into ``out``."""
    request = urllib.request.Request(f"{url}/debug/pprof/profile?seconds={seconds}")
    request.add_header("Authorization", f"Bearer {token}")
    context = ssl.create_default_context(cafile=str(ca))
    with urllib.request.urlopen(request, context=context, timeout=seconds + 60) as response:
        out.write_bytes(response.read())
    return out


def top_cumulative(profile: Path, count: int = 400) -> list[tuple[float, str]]:
    """(cumulative %, function) for the ``count`` functions of largest cumulative time."""
    go = shutil.which("go")
    if go is None:
        raise SystemExit("go is not on PATH: `go tool pprof` reads the profile")
    report = subprocess.run(
        [go, "tool", "pprof", "-top", "-cum", f"-nodecount={count}", str(profile)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = []
    for line in report.splitlines():
        fields = line.split()
        if len(fields) >= 6 and fields[4].endswith("%"):
            rows.append((float(fields[4].rstrip("%")), " ".join(fields[5:])))
    return rows


def parts(rows: list[tuple[float, str]]) -> dict[str, float]:
    """Each part's largest cumulative share (0 where none of its functions was sampled);
    indented parts are within the part above them."""
    return {
        part: max((share for share, name in rows if re.search(pattern, name)), default=0.0)
        for part, pattern in PARTS.items()
    }
