#!/usr/bin/env python3
"""Summarises the runs of benches/dnsperf-compare.sh.

Usage: report.py RESULTS.tsv [--json OUT.json]

RESULTS.tsv has one line per run, tab-separated:
  round mix server client(dnsperf|tcp-load) expect_rcodes cpu_ticks clk_tck
  cpu_ns runq_wait_ns wall_s output_file
cpu_ticks is the server's utime+stime over the run (all its threads and
child processes; /proc/PID/stat before and after, 10 ms units); cpu_ns the
same from /proc/PID/task/*/schedstat (ns units; "-" when a thread came or
went during the run, then the ticks are used); runq_wait_ns is the time the
server's threads were runnable but waiting for the core: other load on the
server core (another process, or the machine's other work) shows up there.

Prints, per mix and server, medians over the rounds: queries/s, server CPU
% of one core, queries per server-CPU-second (the figure to compare: one load
client saturates before some servers do), latency, loss, and the RCODEs seen;
then feedwall's ratios to the best peer (NSD, Knot, BIND) and to the bare
reflector (the kernel-path ceiling).
"""
import json
import re
import statistics
import sys

PEERS = ("nsd", "knot", "bind")
CEILING = "reflector"


def parse_dnsperf(text):
    def num(pat, cast=float, default=None):
        m = re.search(pat, text)
        if not m:
            if default is not None:
                return default
            raise ValueError("dnsperf output lacks %r" % pat)
        return cast(m.group(1))

    r = {
        "sent": num(r"Queries sent:\s+(\d+)", int),
        "completed": num(r"Queries completed:\s+(\d+)", int),
        "lost": num(r"Queries lost:\s+(\d+)", int),
        "runtime": num(r"Run time \(s\):\s+([\d.]+)"),
        "lat_avg_ms": num(r"Average Latency \(s\):\s+([\d.]+)", default=0.0) * 1000,
        "lat_tail_ms": num(r"Average Latency \(s\):.*max ([\d.]+)\)", default=0.0) * 1000,
        "rcodes": {},
        "bad": 0,
    }
    m = re.search(r"Response codes:\s+(.*)", text)
    if m:
        for name, count in re.findall(r"([A-Z0-9]+) (\d+) \(", m.group(1)):
            r["rcodes"][name] = int(count)
    return r


def parse_tcp(text):
    line = [l for l in text.splitlines() if l.startswith("{")]
    if not line:
        raise ValueError("tcp-load printed no result line")
    j = json.loads(line[-1])
    return {
        "sent": j["sent"],
        "completed": j["received"],
        "lost": j["lost"],
        "runtime": j["seconds"],
        "lat_avg_ms": j["latency_ms_avg"],
        "lat_tail_ms": j["latency_ms_p99"],
        "rcodes": j["rcodes"],
        "bad": j["bad"],
        "mbytes_per_s": j["mbytes_per_s"],
        "errors": j.get("errors", []),
    }


def fmt_int(v):
    return "{:,}".format(int(round(v)))


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    json_out = None
    if "--json" in args:
        i = args.index("--json")
        json_out = args[i + 1]
        del args[i:i + 2]
    runs = []
    problems = []
    with open(args[0]) as f:
        for line in f:
            if not line.strip():
                continue
            rnd, mix, server, client, expect, ticks, hz, ns, wait, wall, path = line.rstrip("\n").split("\t")
            text = open(path).read()
            try:
                r = parse_dnsperf(text) if client == "dnsperf" else parse_tcp(text)
            except ValueError as e:
                problems.append("%s/%s round %s: %s (see %s)" % (mix, server, rnd, e, path))
                continue
            tick_s = int(ticks) / float(hz)
            cpu_s, source = tick_s, "stat"
            # schedstat sees only live threads: a thread that exited during
            # the run (the reflector's per-connection TCP threads) takes its
            # time with it. Use the ns figure only when it agrees with stat.
            if ns != "-" and abs(int(ns) / 1e9 - tick_s) <= 0.025 + 0.03 * tick_s:
                cpu_s, source = int(ns) / 1e9, "schedstat"
            r.update(round=int(rnd), mix=mix, server=server, client=client, expect=expect.split(","),
                     cpu_s=cpu_s, cpu_source=source, cpu_s_ticks=tick_s, wall=float(wall),
                     runq_wait_s=int(wait) / 1e9 if wait != "-" else float("nan"))
            r["qps"] = r["completed"] / r["runtime"] if r["runtime"] > 0 else 0.0
            r["cpu_pct"] = 100.0 * r["cpu_s"] / r["runtime"] if r["runtime"] > 0 else 0.0
            r["runq_pct"] = 100.0 * r["runq_wait_s"] / r["runtime"] if r["runtime"] > 0 else 0.0
            r["q_per_cpu"] = r["completed"] / r["cpu_s"] if r["cpu_s"] > 0 else float("nan")
            wrong = sum(v for k, v in r["rcodes"].items() if k not in r["expect"])
            if wrong > 0.001 * max(r["completed"], 1) or r["bad"] > 0.001 * max(r["completed"], 1):
                problems.append("%s/%s round %d: RCODEs %s (expected %s), %d bad" % (mix, server, r["round"], r["rcodes"], "/".join(r["expect"]), wrong if r["client"] == "dnsperf" else r["bad"]))
            for e in r.get("errors", []):
                problems.append("%s/%s round %d: %s" % (mix, server, r["round"], e))
            runs.append(r)

    mixes = []
    servers = []
    for r in runs:
        if r["mix"] not in mixes:
            mixes.append(r["mix"])
        if r["server"] not in servers:
            servers.append(r["server"])
    order = ["feedwall"] + list(PEERS) + [CEILING]
    servers.sort(key=lambda s: order.index(s) if s in order else len(order))

    summary = {}
    rows = []
    head = ("mix", "server", "rounds", "q/s", "server CPU %", "runq wait %", "q/CPU-s", "q/CPU-s min-max", "lat avg ms", "lat tail ms", "lost %", "RCODEs")
    for mix in mixes:
        for s in servers:
            rs = [r for r in runs if r["mix"] == mix and r["server"] == s]
            if not rs:
                continue
            sent = sum(r["sent"] for r in rs)
            lost = sum(r["lost"] for r in rs)
            qpc = [r["q_per_cpu"] for r in rs]
            rc = {}
            for r in rs:
                for k, v in r["rcodes"].items():
                    rc[k] = rc.get(k, 0) + v
            total = sum(rc.values()) or 1
            agg = {
                "rounds": len(rs),
                "qps": statistics.median(r["qps"] for r in rs),
                "cpu_pct": statistics.median(r["cpu_pct"] for r in rs),
                "runq_pct": statistics.median(r["runq_pct"] for r in rs),
                "q_per_cpu": statistics.median(qpc),
                "q_per_cpu_min": min(qpc),
                "q_per_cpu_max": max(qpc),
                "lat_avg_ms": statistics.median(r["lat_avg_ms"] for r in rs),
                "lat_tail_ms": statistics.median(r["lat_tail_ms"] for r in rs),
                "lost_pct": 100.0 * lost / sent if sent else 0.0,
                "rcodes": {k: round(100.0 * v / total, 2) for k, v in rc.items()},
            }
            if any("mbytes_per_s" in r for r in rs):
                agg["mbytes_per_s"] = statistics.median(r["mbytes_per_s"] for r in rs if "mbytes_per_s" in r)
            summary.setdefault(mix, {})[s] = agg
            rows.append((mix, s, str(agg["rounds"]), fmt_int(agg["qps"]) + (" (%d MB/s)" % agg["mbytes_per_s"] if "mbytes_per_s" in agg else ""),
                         "%.0f" % agg["cpu_pct"], "%.1f" % agg["runq_pct"], fmt_int(agg["q_per_cpu"]),
                         "%s-%s" % (fmt_int(agg["q_per_cpu_min"]), fmt_int(agg["q_per_cpu_max"])),
                         "%.3f" % agg["lat_avg_ms"], "%.3f" % agg["lat_tail_ms"], "%.2f" % agg["lost_pct"],
                         " ".join("%s %g%%" % (k, v) for k, v in sorted(agg["rcodes"].items()))))
    print_table(head, rows)

    print()
    head2 = ("mix", "best peer (q/CPU-s)", "feedwall q/CPU-s / best peer", "best peer (q/s)", "feedwall q/s / best peer", "feedwall CPU per query vs reflector")
    rows2 = []
    ratios = {}
    for mix in mixes:
        m = summary.get(mix, {})
        fw = m.get("feedwall")
        peers = {s: m[s] for s in PEERS if s in m}
        if not fw or not peers:
            continue
        bc = max(peers, key=lambda s: peers[s]["q_per_cpu"])
        bq = max(peers, key=lambda s: peers[s]["qps"])
        r_cpu = fw["q_per_cpu"] / peers[bc]["q_per_cpu"]
        r_qps = fw["qps"] / peers[bq]["qps"]
        vs = "-"
        if CEILING in m:
            # CPU per query = 1 / (q per CPU-second); + means feedwall costs more.
            extra = m[CEILING]["q_per_cpu"] / fw["q_per_cpu"] - 1.0
            vs = "%+.1f%%" % (100.0 * extra)
            ratios.setdefault(mix, {})["cpu_per_query_vs_reflector"] = extra
        ratios.setdefault(mix, {}).update(best_peer_cpu=bc, ratio_cpu=r_cpu, best_peer_qps=bq, ratio_qps=r_qps)
        rows2.append((mix, bc, "%.2fx" % r_cpu, bq, "%.2fx" % r_qps, vs))
    print_table(head2, rows2)

    if problems:
        print()
        print("PROBLEMS (these runs do not count as clean):")
        for p in problems:
            print("  - " + p)
    if json_out:
        with open(json_out, "w") as f:
            json.dump({"summary": summary, "ratios": ratios, "problems": problems, "runs": [
                {k: v for k, v in r.items() if k != "errors"} for r in runs]}, f, indent=1, default=str)
    return 1 if problems else 0


def print_table(head, rows):
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print(line(r))


if __name__ == "__main__":
    sys.exit(main())
