#!/usr/bin/env python3
"""Helpers for bench/run.sh: parse one wrk + CPU measurement, summarise a run, and the idle-connection
client. Standard library only, so it runs wherever run.sh does.

Subcommands:
  free-ports N                     print N free TCP ports on 127.0.0.1
  record  --out JSONL ...          parse one wrk run plus its CPU figure, append one JSON line
  report  --runs JSONL --json OUT  medians per proxy and scenario, ratios, table on stdout, JSON file
  idle    --port P --pid PID ...   open N idle keep-alive connections, report the proxy's RSS growth
  profile-summary [--input F]      summarise `perf script` output: kernel/user split, hotspots, callers
  syscalls --wrk-out F --perf F    one row of system calls per request from tracepoint counts
  html-page --bytes N --out F      a deterministic HTML page of N bytes (the gzip20k body)
"""

import argparse
import datetime
import json
import os
import re
import resource
import selectors
import socket
import statistics
import sys
import time

# ---------------------------------------------------------------------------------------------
# wrk output parsing


def _toMs(value: str, unit: str) -> float:
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}
    return float(value) * scale[unit]


def parseWrk(text: str) -> dict:
    """Extracts the figures we report from wrk's text output (wrk 4.x with --latency)."""
    out = {"requests": None, "rps": None, "p50_ms": None, "p99_ms": None,
           "socket_errors": {"connect": 0, "read": 0, "write": 0, "timeout": 0},
           "non_2xx": 0}
    m = re.search(r"^\s*(\d+) requests in ([\d.]+)(\w+),", text, re.M)
    if m:
        out["requests"] = int(m.group(1))
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if m:
        out["rps"] = float(m.group(1))
    for pct, key in (("50", "p50_ms"), ("99", "p99_ms")):
        m = re.search(r"^\s+%s(?:\.000)?%%\s+([\d.]+)(us|ms|s|m)\s*$" % pct, text, re.M)
        if m:
            out[key] = _toMs(m.group(1), m.group(2))
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        out["socket_errors"] = dict(zip(("connect", "read", "write", "timeout"),
                                        map(int, m.groups())))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["non_2xx"] = int(m.group(1))
    return out


def parsePerfStat(path: str):
    """task-clock in ms from `perf stat -x,` output, or None when it is missing or not counted."""
    try:
        with open(path) as f:
            for line in f:
                fields = line.strip().split(",")
                if len(fields) >= 3 and fields[2].startswith("task-clock"):
                    try:
                        return float(fields[0])
                    except ValueError:
                        return None  # "<not counted>" or "<not supported>"
    except OSError:
        pass
    return None


def cmdRecord(a) -> int:
    with open(a.wrk_out) as f:
        wrk = parseWrk(f.read())
    cpuMs = None
    if a.cpu_method == "perf":
        cpuMs = parsePerfStat(a.cpu_file)
    else:
        # /proc fallback: two lines "utime+stime ticks" before and after; CLK_TCK ticks a second.
        try:
            with open(a.cpu_file) as f:
                before, after = (int(x) for x in f.read().split()[:2])
            cpuMs = (after - before) * 1000.0 / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError):
            cpuMs = None
    rec = {
        "scenario": a.scenario, "proxy": a.proxy, "round": a.round,
        "duration_s": a.duration, "cpu_method": a.cpu_method, "cpu_ms": cpuMs,
        "alive_after": a.alive == "1", "loadavg_1m": a.loadavg, **wrk,
    }
    reqs = wrk["requests"]
    rec["cpu_us_per_req"] = (cpuMs * 1000.0 / reqs) if (cpuMs is not None and reqs) else None
    with open(a.out, "a") as f:
        f.write(json.dumps(rec) + "\n")
    errs = sum(rec["socket_errors"].values()) + rec["non_2xx"]
    cpuText = "%.2f" % rec["cpu_us_per_req"] if rec["cpu_us_per_req"] is not None else "n/a"
    print("    %-10s %-13s round %d: %9s rps  %6s us/req  p99 %s ms%s" % (
        a.scenario, a.proxy, a.round,
        "%.0f" % rec["rps"] if rec["rps"] is not None else "n/a", cpuText,
        "%.2f" % rec["p99_ms"] if rec["p99_ms"] is not None else "n/a",
        "  ERRORS %d" % errs if errs else ""))
    return 0


# ---------------------------------------------------------------------------------------------
# Summary


def _median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def _fmt(v, spec):
    return format(v, spec) if v is not None else "n/a"


def cmdReport(a) -> int:
    runs = []
    with open(a.runs) as f:
        for line in f:
            if line.strip():
                runs.append(json.loads(line))
    meta = json.loads(a.meta) if a.meta else {}
    idle = None
    if a.idle and os.path.exists(a.idle):
        with open(a.idle) as f:
            idle = json.load(f)

    scenarios = []
    proxies = []
    for r in runs:
        if r["scenario"] not in scenarios:
            scenarios.append(r["scenario"])
        if r["proxy"] not in proxies:
            proxies.append(r["proxy"])

    summary = {}
    for s in scenarios:
        summary[s] = {}
        for p in proxies:
            rs = [r for r in runs if r["scenario"] == s and r["proxy"] == p]
            if not rs:
                continue
            summary[s][p] = {
                "rounds": len(rs),
                "rps": _median([r["rps"] for r in rs]),
                "cpu_us_per_req": _median([r["cpu_us_per_req"] for r in rs]),
                "p50_ms": _median([r["p50_ms"] for r in rs]),
                "p99_ms": _median([r["p99_ms"] for r in rs]),
                "errors": sum(sum(r["socket_errors"].values()) + r["non_2xx"] for r in rs),
                "non_2xx": sum(r["non_2xx"] for r in rs),
                "crashed": any(not r.get("alive_after", True) for r in rs),
            }
        # Efficiency = requests per CPU-second relative to a peer = peer's us/req over ours.
        for p, row in summary[s].items():
            for peer in ("nginx", "haproxy"):
                mine = row["cpu_us_per_req"]
                theirs = summary[s].get(peer, {}).get("cpu_us_per_req")
                row["eff_vs_" + peer] = (theirs / mine) if (mine and theirs) else None
            ng = summary[s].get("nginx", {}).get("p99_ms")
            row["p99_vs_nginx"] = (row["p99_ms"] / ng) if (row["p99_ms"] and ng) else None
        # The access log's price: CPU per request with it on over the same build with it off.
        logged = summary[s].get("proxy-service-log", {}).get("cpu_us_per_req")
        plain = summary[s].get("proxy-service", {}).get("cpu_us_per_req")
        if logged and plain:
            summary[s]["proxy-service-log"]["cost_vs_unlogged"] = logged / plain

    lines = []
    lines.append("| scenario | proxy | req/s | CPU µs/req | eff. vs nginx | eff. vs HAProxy "
                 "| p50 ms | p99 ms | errors |")
    lines.append("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for s in scenarios:
        for p in proxies:
            row = summary[s].get(p)
            if row is None:
                continue
            errText = str(row["errors"])
            if row["crashed"]:
                errText += " CRASHED"
            lines.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                s, p, _fmt(row["rps"], ".0f"), _fmt(row["cpu_us_per_req"], ".2f"),
                _fmt(row["eff_vs_nginx"], ".2f") + "×" if row["eff_vs_nginx"] else "n/a",
                _fmt(row["eff_vs_haproxy"], ".2f") + "×" if row["eff_vs_haproxy"] else "n/a",
                _fmt(row["p50_ms"], ".3f"), _fmt(row["p99_ms"], ".3f"), errText))
    costs = [(s, summary[s]["proxy-service-log"]["cost_vs_unlogged"]) for s in scenarios
             if summary[s].get("proxy-service-log", {}).get("cost_vs_unlogged")]
    if costs:
        lines.append("")
        lines.append("Access log (SQLite) on vs off, CPU per request: " + ", ".join(
            "%s %+.1f%%" % (s, (c - 1) * 100) for s, c in costs))
    table = "\n".join(lines)

    print()
    print("Medians of %s round(s); CPU measured with %s." % (
        meta.get("rounds", "?"), meta.get("cpu_method", "?")))
    if meta.get("cpu_method") == "proc":
        print("NOTE: CPU comes from /proc/PID/stat utime+stime (10 ms ticks), not perf stat "
              "(perf unavailable, or BENCH_CPU=proc).")
    print(table)
    if idle:
        print()
        if idle.get("error"):
            print("Idle connections: FAILED: %s" % idle["error"])
        else:
            print("Idle connections: %d of %d open after %.0f s idle (opened in %.1f s); "
                  "proxy-service RSS %.1f -> %.1f MiB, growth %.1f MiB (%.2f KiB per connection; "
                  "target <= 80 MiB: %s); peak RSS %.1f MiB" % (
                      idle["still_open"], idle["connections"], idle["idle_seconds"],
                      idle.get("connect_seconds", 0), idle["rss_before_kib"] / 1024,
                      idle["rss_after_kib"] / 1024, idle["rss_growth_kib"] / 1024,
                      idle["rss_growth_kib"] / max(1, idle["connections"]),
                      "met" if idle["rss_growth_kib"] <= 80 * 1024 else "MISSED",
                      idle.get("rss_peak_kib", 0) / 1024))
    if meta.get("gzip20k_compressed_bytes"):
        print("gzip20k: the 20480-byte page compressed to " + ", ".join(
            "%d bytes by %s" % (v, k) for k, v in meta["gzip20k_compressed_bytes"].items()))
    print("Load average: start %s, end %s" % (meta.get("loadavg_start"), meta.get("loadavg_end")))

    doc = {"meta": meta, "summary": summary, "runs": runs, "idle": idle, "table_markdown": table}
    with open(a.json, "w") as f:
        json.dump(doc, f, indent=2)
    print("JSON: %s" % a.json)
    return 0


# ---------------------------------------------------------------------------------------------
# Idle connections


def statusKib(pid: int, field: str) -> int:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError("no %s for pid %d" % (field, pid))


def rssKib(pid: int) -> int:
    return statusKib(pid, "VmRSS")


def cmdIdle(a) -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = a.connections + 256
    if soft < want:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, max(want, soft)), hard))
        except (ValueError, OSError):
            pass
    result = {"connections": a.connections, "idle_seconds": a.idle_seconds,
              "mode": "connect only" if a.no_request else "one request, then idle keep-alive"}
    request = ("GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % a.port).encode()
    socks = []
    deadline = time.monotonic() + a.timeout
    try:
        result["rss_before_kib"] = rssKib(a.pid)
        # Connect and complete one request per connection in batches, so the listen backlog is
        # never the limit, then leave every connection open and idle.
        for start in range(0, a.connections, a.batch):
            batch = []
            for _ in range(min(a.batch, a.connections - start)):
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                s.settimeout(max(0.1, deadline - time.monotonic()))
                s.connect(("127.0.0.1", a.port))
                if not a.no_request:
                    s.sendall(request)
                s.setblocking(False)
                batch.append(s)
            socks.extend(batch)
            if a.no_request:
                continue
            pending = {s: b"" for s in batch}
            sel = selectors.DefaultSelector()
            for s in batch:
                sel.register(s, selectors.EVENT_READ)
            while pending:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError("timed out waiting for responses (%d pending in batch at %d)"
                                       % (len(pending), start))
                for key, _ in sel.select(timeout=min(left, 1.0)):
                    s = key.fileobj
                    chunk = s.recv(65536)
                    if not chunk:
                        raise RuntimeError("proxy closed a connection before answering")
                    buf = pending[s] + chunk
                    if responseComplete(buf):
                        if not buf.startswith(b"HTTP/1.1 200"):
                            raise RuntimeError("unexpected response: %r" % buf[:80])
                        del pending[s]
                        sel.unregister(s)
                    else:
                        pending[s] = buf
            sel.close()
        result["connect_seconds"] = round(a.timeout - (deadline - time.monotonic()), 2)
        # Sample RSS while the connections sit idle: the proxy may trim idle sessions after a
        # while, and whether the freed heap goes back to the OS shows here.
        samples = []
        waited = 0.0
        while waited < a.idle_seconds:
            step = min(1.0, a.idle_seconds - waited)
            time.sleep(step)
            waited += step
            samples.append(rssKib(a.pid))
        result["rss_samples_kib"] = samples
        result["rss_after_kib"] = samples[-1]
        result["rss_peak_kib"] = statusKib(a.pid, "VmHWM")
        # A connection the proxy has closed reads as EOF; count the ones still open.
        sel = selectors.DefaultSelector()
        for s in socks:
            sel.register(s, selectors.EVENT_READ)
        closed = set()
        for key, _ in sel.select(timeout=0):
            try:
                if key.fileobj.recv(1) == b"":
                    closed.add(key.fileobj)
            except OSError:
                closed.add(key.fileobj)
        sel.close()
        result["still_open"] = len(socks) - len(closed)
        result["rss_growth_kib"] = result["rss_after_kib"] - result["rss_before_kib"]
    except Exception as e:  # report, never hang or traceback: run.sh prints this
        result["error"] = "%s after %d connections" % (e, len(socks))
    finally:
        for s in socks:
            s.close()
    if "error" not in result:
        time.sleep(1.0)
        try:
            result["rss_after_close_kib"] = rssKib(a.pid)
        except (OSError, RuntimeError):
            pass
    with open(a.out, "w") as f:
        json.dump(result, f, indent=2)
    print(json.dumps(result))
    return 0 if "error" not in result else 1


def responseComplete(buf: bytes) -> bool:
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return False
    m = re.search(rb"\r\ncontent-length:\s*(\d+)", buf[:end].lower())
    if not m:
        return True  # no body framing we know: the head is enough for this client
    return len(buf) >= end + 4 + int(m.group(1))


# ---------------------------------------------------------------------------------------------
# Profile summary from `perf script` (samples with DWARF call chains)

_SYSCALL_WRAPPER = re.compile(
    r"^(__libc_|__GI___libc_|__)?(recv|recvfrom|recvmsg|send|sendto|sendmsg|epoll_wait|epoll_ctl|"
    r"epoll_pwait|writev|readv|accept4?|close|close_nocancel|connect|shutdown|write|read|"
    r"clock_gettime|getsockopt|setsockopt|ioctl|fcntl)(64)?(@.*)?$")


def shortSym(sym: str) -> str:
    """Collapses template arguments so asio's names fit on a line."""
    prev = None
    while prev != sym:
        prev = sym
        sym = re.sub(r"<[^<>]*>", "<>", sym)
    sym = re.sub(r"\(anonymous namespace\)::", "", sym)
    return sym.replace(" (inlined)", "")


def parsePerfScript(lines):
    """Yields one list of (symbol, dso) per sample, leaf first."""
    stack = []
    inSample = False
    for line in lines:
        if not line.strip():
            if inSample:
                yield stack
            stack, inSample = [], False
            continue
        if not line[0].isspace():
            if inSample:
                yield stack
            stack, inSample = [], True
            continue
        m = re.match(r"\s*[0-9a-f]+\s+(.*?)\s+\((.*)\)\s*$", line)
        # Inlined frames carry no object of their own; perf report's default view shows the
        # physical function, and so do we.
        if m and m.group(2) != "inlined":
            sym = re.sub(r"\+0x[0-9a-f]+$", "", m.group(1))
            stack.append((sym, os.path.basename(m.group(2))))
    if inSample:
        yield stack


def cmdProfileSummary(a) -> int:
    src = open(a.input, errors="replace") if a.input != "-" else sys.stdin
    binName = a.binary
    total = 0
    cls = {"kernel": 0, "syscall wrapper": 0, "user": 0}
    userDso = {}
    kernelBySyscall = {}
    userLeaf = {}
    libCaller = {}
    inclusive = {}
    for stack in parsePerfScript(src):
        if not stack:
            continue
        total += 1
        leafSym, leafDso = stack[0]
        firstUser = next(((s, d) for s, d in stack if d != "[kernel.kallsyms]"), None)
        ours = [shortSym(s) for s, d in stack if d == binName]
        for fn in set(f for f in ours if f.startswith("proxy::")):
            inclusive[fn] = inclusive.get(fn, 0) + 1
        if leafDso == "[kernel.kallsyms]":
            cls["kernel"] += 1
            key = shortSym(firstUser[0]) if firstUser else "(kernel thread / interrupt)"
            kernelBySyscall[key] = kernelBySyscall.get(key, 0) + 1
            continue
        if _SYSCALL_WRAPPER.match(leafSym) and leafDso.startswith("libc"):
            cls["syscall wrapper"] += 1
            continue
        cls["user"] += 1
        userDso[leafDso] = userDso.get(leafDso, 0) + 1
        name = shortSym(leafSym)
        userLeaf[(name, leafDso)] = userLeaf.get((name, leafDso), 0) + 1
        if leafDso != binName:
            caller = next((shortSym(s) for s, d in stack[1:] if d == binName and
                           not s.startswith("operator new") and not s.startswith("operator delete")),
                          "?")
            key = (name, caller)
            libCaller[key] = libCaller.get(key, 0) + 1
    if total == 0:
        print("no samples")
        return 1

    def pct(n, d=total):
        return 100.0 * n / d if d else 0.0

    out = []
    out.append("Samples: %d. Kernel %.1f%%, libc syscall wrappers %.1f%%, user-space work %.1f%%."
               % (total, pct(cls["kernel"]), pct(cls["syscall wrapper"]), pct(cls["user"])))
    out.append("User-space work by object: " + ", ".join(
        "%s %.1f%%" % (d, pct(n)) for d, n in sorted(userDso.items(), key=lambda x: -x[1])))
    out.append("")
    out.append("Kernel time by the user-space frame that entered it (percent of all samples):")
    for k, n in sorted(kernelBySyscall.items(), key=lambda x: -x[1])[:a.top // 2]:
        out.append("  %5.1f%%  %s" % (pct(n), k))
    out.append("")
    out.append("Top user-space functions, self time (percent of all samples / of user-space work):")
    for (k, d), n in sorted(userLeaf.items(), key=lambda x: -x[1])[:a.top]:
        out.append("  %5.1f%%  %5.1f%%  %s  [%s]" % (pct(n), pct(n, cls["user"]), k, d))
    out.append("")
    out.append("Library functions by their nearest %s caller (percent of all samples):" % binName)
    for (k, c), n in sorted(libCaller.items(), key=lambda x: -x[1])[:a.top]:
        out.append("  %5.1f%%  %s  <-  %s" % (pct(n), k, c))
    out.append("")
    out.append("proxy:: functions, inclusive (on the stack, kernel time included):")
    for k, n in sorted(inclusive.items(), key=lambda x: -x[1])[:a.top]:
        out.append("  %5.1f%%  %s" % (pct(n), k))
    print("\n".join(out))
    return 0


def cmdSyscalls(a) -> int:
    """One table row: system calls per request, by call, from `perf stat -x,` tracepoint counts."""
    with open(a.wrk_out) as f:
        reqs = parseWrk(f.read())["requests"]
    counts = {}
    with open(a.perf) as f:
        for line in f:
            fields = line.strip().split(",")
            if len(fields) >= 3 and fields[2].startswith("syscalls:sys_enter_"):
                try:
                    counts[fields[2][len("syscalls:sys_enter_"):]] = int(float(fields[0]))
                except ValueError:
                    pass
    if not reqs:
        print("| %s | no requests |" % a.proxy)
        return 1
    total = sum(counts.values())
    parts = ", ".join("%s %.2f" % (k, v / reqs)
                      for k, v in sorted(counts.items(), key=lambda x: -x[1]) if v / reqs >= 0.01)
    print("| %s | %d | %.2f | %s |" % (a.proxy, reqs, total / reqs, parts))
    return 0


# ---------------------------------------------------------------------------------------------


def cmdFreePorts(a) -> int:
    socks = []
    for _ in range(a.n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    print(" ".join(str(s.getsockname()[1]) for s in socks))
    for s in socks:
        s.close()
    return 0


def cmdHtmlPage(a) -> int:
    """A page that compresses like real HTML (repeated markup, varying text and numbers), not like
    a run of one byte: a seeded PRNG picks words and figures, so every run serves the same bytes."""
    import random
    rng = random.Random(20480)
    words = ("proxy request response header body stream worker route upstream server client "
             "connection latency throughput compression gzip deflate window buffer chunk session "
             "filter phase config snapshot reload listener socket timeout health balance").split()
    out = ['<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Catalogue</title>'
           '<link rel="stylesheet" href="/static/site.css"></head>\n<body><main class="page">\n'
           '<table class="catalogue">\n']
    size = sum(len(x) for x in out)
    row = 0
    while size < a.bytes:
        text = " ".join(rng.choice(words) for _ in range(rng.randint(4, 10)))
        line = ('<tr class="row%d"><td class="id">%d</td><td class="name"><a href="/items/%d">%s</a>'
                '</td><td class="price">%d.%02d</td></tr>\n' % (
                    row % 2, row, rng.randint(1000, 99999), text, rng.randint(1, 500),
                    rng.randint(0, 99)))
        out.append(line)
        size += len(line)
        row += 1
    page = "".join(out).encode()[:a.bytes]
    with open(a.out, "wb") as f:
        f.write(page)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("free-ports")
    p.add_argument("n", type=int)
    p = sub.add_parser("record")
    for k in ("out", "wrk-out", "cpu-file", "cpu-method", "scenario", "proxy", "alive"):
        p.add_argument("--" + k, required=True)
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--loadavg", type=float, default=None)
    p = sub.add_parser("report")
    p.add_argument("--runs", required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--meta", default="")
    p.add_argument("--idle", default="")
    p = sub.add_parser("idle")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pid", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--connections", type=int, default=10000)
    p.add_argument("--batch", type=int, default=500)
    p.add_argument("--idle-seconds", type=float, default=5.0)
    p.add_argument("--timeout", type=float, default=60.0)
    p.add_argument("--no-request", action="store_true",
                   help="only connect (the proxy's header timeout applies), send no request")
    p = sub.add_parser("syscalls")
    p.add_argument("--wrk-out", required=True)
    p.add_argument("--perf", required=True)
    p.add_argument("--proxy", required=True)
    p = sub.add_parser("html-page")
    p.add_argument("--bytes", type=int, required=True)
    p.add_argument("--out", required=True)
    p = sub.add_parser("profile-summary")
    p.add_argument("--input", default="-", help="perf script output (default: stdin)")
    p.add_argument("--binary", default="proxy-service")
    p.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    return {"free-ports": cmdFreePorts, "record": cmdRecord, "report": cmdReport,
            "idle": cmdIdle, "profile-summary": cmdProfileSummary,
            "syscalls": cmdSyscalls, "html-page": cmdHtmlPage}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
