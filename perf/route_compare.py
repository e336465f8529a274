#!/usr/bin/env python3
"""Side-by-side table of route_bench runs (builds measured in one device call).

    perf/route_compare.py NAME=route_bench.txt [NAME=route_bench.txt ...]

The first run is the one reported in full (every column of route_bench, as
perf/RESULTS.md's tables have them); each later run adds its sync-free time
as a column "NAME free", so a change and its base read side by side. Rows
are matched by (preset, dtype); a row missing from a later run shows "-".
"""
import sys

# route_bench's columns, in order (see its header lines).
COLUMNS = ["preset", "dtype", "k", "sync", "free", "free-min", "exact", "floor", "free / floor",
           "torch", "torch / free", "torch / sync", "enq"]


def is_number(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def read_rows(path):
    """(preset, dtype) -> {column: text} for every table row of a route_bench output."""
    rows = {}
    with open(path) as f:
        for line in f:
            if line.startswith("#") or not line.strip():
                continue
            cells = line.split()
            if len(cells) != len(COLUMNS) or not all(is_number(c) for c in cells[2:]):
                continue  # a log line (SAM_DEBUG) or a summary line
            rows[(cells[0], cells[1])] = dict(zip(COLUMNS, cells))
    return rows


def main(argv):
    if len(argv) < 2 or any("=" not in a for a in argv[1:]):
        sys.stderr.write(__doc__)
        return 2
    runs = [a.split("=", 1) for a in argv[1:]]
    tables = [(name, read_rows(path)) for name, path in runs]
    first_name, first = tables[0]
    if not first:
        sys.stderr.write("%s: no route_bench rows in %s\n" % (argv[0], runs[0][1]))
        return 1
    shown = ["preset", "dtype", "k", "sync", "free", "free-min", "exact", "floor", "free / floor", "torch",
             "torch / free", "enq"]
    header = shown + ["%s free" % name for name, _ in tables[1:]]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for key, row in first.items():
        cells = [row[c] for c in shown]
        cells += [t.get(key, {}).get("free", "-") for _, t in tables[1:]]
        print("| " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
