#!/usr/bin/env python3
"""bench/report.py RESULTS_TXT OUT_DIR: the tables and the chart of docs/performance.md.

Reads the RESULT lines bench/load.sh wrote, prints a Markdown table per scenario (requests
per second, p50 and p99, RSS) with the ratio Sigil/peer measured in the same run, and
writes OUT_DIR/results.csv and OUT_DIR/throughput.svg (throughput by concurrency, one panel
per scenario). Standard library only.
"""
import csv
import sys
from collections import defaultdict

COLOURS = {"sqlite": "#1f77b4", "postgres": "#2ca02c", "peer": "#d62728"}
LABELS = {"sqlite": "Sigil (SQLite)", "postgres": "Sigil (PostgreSQL)", "peer": "oidc-provider (in memory)"}


def parse(path):
    rows = []
    with open(path) as f:
        for line in f:
            if not line.startswith("RESULT "):
                continue
            fields = dict(kv.split("=", 1) for kv in line.split()[1:])
            rows.append(fields)
    return rows


def num(value):
    try:
        return float(value)
    except ValueError:
        return 0.0


def tables(rows):
    by = defaultdict(dict)
    for r in rows:
        if r["scenario"] != "idle":
            by[r["scenario"]][(r["target"], int(r["concurrency"]))] = r
    idle = {r["target"]: r["rss_mb"] for r in rows if r["scenario"] == "idle"}
    print("Idle RSS (MB): " + ", ".join(f"{LABELS.get(t, t)} {v}" for t, v in idle.items()))
    for scenario, runs in by.items():
        print(f"\n### {scenario}\n")
        print("| concurrency | target | req/s | p50 ms | p99 ms | RSS MB | errors | lag p99 ms | Sigil/peer |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
        for c in sorted({c for _, c in runs}):
            peer = runs.get(("peer", c))
            for target in ("sqlite", "postgres", "peer"):
                r = runs.get((target, c))
                if not r:
                    continue
                ratio = ""
                if target != "peer" and peer and num(peer["rps"]) > 0:
                    ratio = f"{num(r['rps']) / num(peer['rps']):.2f}×"
                print(f"| {c} | {LABELS[target]} | {num(r['rps']):.0f} | {r['p50_ms']} | {r['p99_ms']} "
                      f"| {r['rss_mb']} | {r['errors']} | {r.get('lag_p99_ms', '')} | {ratio} |")
    return by


def chart(by, path):
    scenarios = list(by)
    width, height, cols = 320, 230, 3
    rows_n = (len(scenarios) + cols - 1) // cols
    svg = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width * cols}" height="{height * rows_n + 40}" '
           'font-family="sans-serif" font-size="11">',
           f'<rect width="100%" height="100%" fill="white"/>']
    for i, scenario in enumerate(scenarios):
        x0, y0 = (i % cols) * width + 50, (i // cols) * height + 30
        w, h = width - 70, height - 70
        runs = by[scenario]
        cs = sorted({c for _, c in runs})
        top = max([num(r["rps"]) for r in runs.values()] + [1]) * 1.1
        svg.append(f'<text x="{x0 + w / 2}" y="{y0 - 10}" text-anchor="middle" font-weight="bold">{scenario}</text>')
        svg.append(f'<line x1="{x0}" y1="{y0 + h}" x2="{x0 + w}" y2="{y0 + h}" stroke="black"/>')
        svg.append(f'<line x1="{x0}" y1="{y0}" x2="{x0}" y2="{y0 + h}" stroke="black"/>')
        for k in range(5):
            v = top * k / 4
            y = y0 + h - h * k / 4
            svg.append(f'<text x="{x0 - 4}" y="{y + 4}" text-anchor="end">{v:.0f}</text>')
            svg.append(f'<line x1="{x0}" y1="{y}" x2="{x0 + w}" y2="{y}" stroke="#ddd"/>')
        xs = {c: x0 + (w * j / max(len(cs) - 1, 1)) for j, c in enumerate(cs)}
        for c, x in xs.items():
            svg.append(f'<text x="{x}" y="{y0 + h + 14}" text-anchor="middle">{c}</text>')
        svg.append(f'<text x="{x0 + w / 2}" y="{y0 + h + 28}" text-anchor="middle">concurrent clients</text>')
        for target, colour in COLOURS.items():
            points = [(xs[c], y0 + h - h * num(runs[(target, c)]["rps"]) / top) for c in cs if (target, c) in runs]
            if points:
                path_d = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
                svg.append(f'<polyline points="{path_d}" fill="none" stroke="{colour}" stroke-width="2"/>')
                for x, y in points:
                    svg.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>')
    ly = height * rows_n + 20
    for j, (target, colour) in enumerate(COLOURS.items()):
        lx = 50 + j * 220
        svg.append(f'<rect x="{lx}" y="{ly - 9}" width="12" height="12" fill="{colour}"/>')
        svg.append(f'<text x="{lx + 18}" y="{ly + 1}">{LABELS[target]} (requests or flows per second)</text>'
                   if j == 0 else f'<text x="{lx + 18}" y="{ly + 1}">{LABELS[target]}</text>')
    svg.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(svg))


def main():
    rows = parse(sys.argv[1])
    out = sys.argv[2]
    with open(f"{out}/results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["target", "scenario", "concurrency", "rps", "p50_ms", "p99_ms",
                                               "ok", "errors", "rss_mb", "lag_p99_ms"])
        writer.writeheader()
        for r in rows:
            writer.writerow({k: r.get(k, "") for k in writer.fieldnames})
    by = tables(rows)
    chart(by, f"{out}/throughput.svg")


if __name__ == "__main__":
    main()
