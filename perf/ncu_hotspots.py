#!/usr/bin/env python3
"""Where a kernel's time goes, per SASS instruction, from ncu's source page.

    ncu --section SourceCounters --section WarpStateStats -k regex:NAME \\
        --launch-skip 2 --launch-count 1 -o REP build/perf/route_bench --only P -n 3 -w 3
    ncu -i REP.ncu-rep --page source --csv --print-source sass > K.csv
    perf/ncu_hotspots.py K.csv [--top N] [--split I,J,...] [--show I:J]

Prints the stall reasons over the whole kernel, then its straight-line runs
of code (consecutive instructions executed equally often: a loop body, a
tail) by share of executed instructions and by share of warp stall samples
(time), then, with --split, the shares of the ranges cut at those
instruction numbers (e.g. the first pass against the batch's end), and with
--show, each instruction of a range with its executions and samples. An
instruction's number is its offset / 16. perf/RESULTS.md (twentieth round)
has what it showed for the row kernels.
"""
import argparse
import csv


def number(text):
    text = text.replace(",", "").strip()
    return float(text) if text not in ("", "-") else 0.0


def load(path):
    rows = list(csv.reader(open(path)))
    header = next(i for i, r in enumerate(rows) if r and r[0] == "Address")
    names, data = rows[header], rows[header + 1:]
    col = {n: i for i, n in enumerate(names)}
    stalls = [n for n in names if n.startswith("stall_") and "Not Issued" not in n]
    base = int(data[0][col["Address"]], 16)
    out = []
    for r in data:
        out.append({
            "at": (int(r[col["Address"]], 16) - base) // 16,
            "sass": r[col["Source"]].strip(),
            "samples": number(r[col["Warp Stall Sampling (All Samples)"]]),
            "executed": number(r[col["Instructions Executed"]]),
            "stalls": {n[len("stall_"):]: number(r[col[n]]) for n in stalls},
        })
    return out


def runs(instructions):
    """Consecutive instructions with one execution count."""
    out = []
    for ins in instructions:
        if out and out[-1]["each"] == ins["executed"]:
            run = out[-1]
        else:
            run = {"first": ins["at"], "each": ins["executed"], "n": 0, "samples": 0.0, "head": ins["sass"]}
            out.append(run)
        run["last"] = ins["at"]
        run["n"] += 1
        run["samples"] += ins["samples"]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("csv")
    ap.add_argument("--top", type=int, default=12, help="runs to list by each share")
    ap.add_argument("--split", help="instruction numbers that cut the kernel into ranges")
    ap.add_argument("--show", help="FIRST:LAST, the instructions to list")
    a = ap.parse_args()
    instructions = load(a.csv)
    executed = sum(i["executed"] for i in instructions) or 1.0
    samples = sum(i["samples"] for i in instructions) or 1.0
    print(f"{len(instructions)} instructions, {executed:.0f} warp instructions executed, {samples:.0f} samples")

    reasons = {}
    for i in instructions:
        for name, v in i["stalls"].items():
            reasons[name] = reasons.get(name, 0.0) + v
    total = sum(reasons.values()) or 1.0
    print("stalls: " + ", ".join(f"{n} {v / total:.1%}" for n, v in sorted(reasons.items(), key=lambda x: -x[1])
                                 if v / total >= 0.005))

    def show(title, key):
        print(title)
        for r in sorted(runs(instructions), key=key)[:a.top]:
            print(f"  {r['first']:6d}-{r['last']:<6d} {r['n']:4d} instr x {r['each']:8.0f}: "
                  f"{r['n'] * r['each'] / executed:6.1%} of instructions, {r['samples'] / samples:6.1%} of samples"
                  f"  | {r['head'][:48]}")
    show("runs by instructions executed:", lambda r: -r["n"] * r["each"])
    show("runs by stall samples:", lambda r: -r["samples"])

    if a.split:
        cuts = [int(c) for c in a.split.split(",")]
        edges = [0] + cuts + [instructions[-1]["at"] + 1]
        for lo, hi in zip(edges, edges[1:]):
            part = [i for i in instructions if lo <= i["at"] < hi]
            print(f"[{lo}, {hi}): {sum(i['executed'] for i in part) / executed:6.1%} of instructions, "
                  f"{sum(i['samples'] for i in part) / samples:6.1%} of samples")
    if a.show:
        lo, hi = (int(v) for v in a.show.split(":"))
        for i in instructions:
            if lo <= i["at"] <= hi:
                print(f"{i['at']:6d} {i['executed']:9.0f} {i['samples']:5.0f}  {i['sass']}")


if __name__ == "__main__":
    main()
