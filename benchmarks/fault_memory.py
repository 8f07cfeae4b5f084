"""Peak memory of feedsvc's fetcher under a gzip bomb and a 64 MiB body (figures for
docs/RELIABILITY.md). Each case runs in a fresh child process; its peak RSS (ru_maxrss) is
reported (VmHWM) next to the baseline of a child that only imports feedsvc.

    python benchmarks/fault_memory.py
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MiB = 1024 * 1024


def bomb() -> bytes:
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = b"\0" * MiB
    return b"".join([c.compress(zeros) for _ in range(1024)] + [c.flush()])


def main() -> None:
    gz = bomb()
    big = b"<rss>" + b"x" * (64 * MiB) + b"</rss>"

    class H(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            body, enc = (gz, "gzip") if self.path == "/bomb" else (big, None)
            self.send_response(200)
            if enc:   # the big body goes without Content-Length: the cap must hold while streaming
                self.send_header("Content-Length", str(len(body)))
            else:
                self.send_header("Connection", "close")
            if enc:
                self.send_header("Content-Encoding", enc)
            self.end_headers()
            try:
                self.wfile.write(body)
            except OSError:
                pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    port = srv.server_address[1]
    child = textwrap.dedent("""
        import resource, sys
        from pathlib import Path
        from feedsvc.sources.fetch import HttpFetcher
        from feedsvc.errors import FetchError
        f = HttpFetcher("bench", Path("."), max_bytes=10 * 1024 * 1024)
        outcome = "baseline"
        if sys.argv[1] != "baseline":
            try:
                f.fetch("x", sys.argv[1])
                outcome = "accepted"
            except FetchError as e:
                outcome = "refused: " + e.message
        # VmHWM, not ru_maxrss: ru_maxrss keeps the parent's size from before exec
        hwm = next(l for l in open("/proc/self/status") if l.startswith("VmHWM:")).split()[1]
        print(int(hwm) / 1024, outcome)
    """)
    try:
        for name, url in (("baseline (import only)", "baseline"),
                          ("gzip bomb, 1 GiB of zeros (1 MiB on the wire)", f"http://127.0.0.1:{port}/bomb"),
                          ("64 MiB body, no compression", f"http://127.0.0.1:{port}/big")):
            out = subprocess.run([sys.executable, "-c", child, url], capture_output=True, text=True, check=True)
            rss, _, outcome = out.stdout.strip().partition(" ")
            print(f"{name:48} peak RSS {float(rss):6.1f} MiB   {outcome}")
    finally:
        srv.shutdown()


if __name__ == "__main__":
    main()
