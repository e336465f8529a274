#!/usr/bin/env python3
"""A host model of RouteGpu.SigmoidSecondLookKeepsTheReferenceOrder's rows of
sels near 1/2 (tests/route/test_route_gpu.cc, bf16, no bias): how many
tokens the 16-bit sigmoid lists' second look decides (lib/route/route_rows.cuh,
kSecondLook), and how many a kernel without one of its two checks would
route wrongly. The test is only worth its time if both numbers are large.

    tests/route/second_look_model.py [--seed S]

The model takes the exact sels for the approximate ones and orders the list
as the keys do (route_keys.h, with perf/route_proof_model.py's copies of
its functions): sel - 1's key with the expert in its low bits, so by
bucket, then by expert. The picks are then ordered by exact sel, so the
last pick A is the lowest of the set; B is the runner-up, C the key past it.
The set is proven by the keys alone when B is in another bucket and A is
above the best value B's bucket can hold (keyBound) by dSel; else the
second look: A before B in the reference's order (exact sel, ties to the
lower expert) and A above the best value C's bucket can hold by dSel.
Needs numpy.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "perf"))
from route_proof_model import EXPERT_BITS, key_value, ord_key  # noqa: E402

TOKENS, EXPERTS, K = 10006, 256, 8
D_SEL = 2.0**-20 + 2.0**-21  # sigmoidSelMargin without a bias
KEY_SLACK = 3 * 2.0**-22     # sigmoidKeySlack without a bias


def bucket(sel):
    """The bucket of each sel's key (valueKey<false>: descKey(sel - 1))."""
    return ~ord_key(sel - np.float32(1.0)) & ~EXPERT_BITS


def bucket_best(b):
    """keyBound<false>: the largest sel a bucket can hold, with the slack."""
    return float(key_value(~b) + np.float32(1.0)) + KEY_SLACK


def row(rng):
    x = rng.uniform(-8, -3, EXPERTS).astype(np.float32)
    groups = rng.permutation(8)[:4]
    for g in groups:
        n = rng.integers(2, 5)
        x[32 * g + rng.permutation(32)[:n]] = rng.integers(-16, 17, n) * 2.0**-22
    return x, groups


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=5)
    rng = np.random.default_rng(ap.parse_args().seed)
    wrong = {"kernel": 0, "no bound past the runner-up": 0, "no exact order of the pair": 0}
    looked = 0
    for _ in range(TOKENS):
        x, groups = row(rng)
        cand = np.concatenate([np.arange(32 * g, 32 * g + 32) for g in sorted(groups)])
        sel = (1 / (1 + np.exp(-x[cand].astype(np.float64)))).astype(np.float32)
        bk = bucket(sel)
        listed = np.argsort(bk | cand, kind="stable")  # the keys' order
        exact = np.lexsort((cand, -sel.astype(np.float64)))
        picks = listed[:K]
        a = picks[np.lexsort((cand[picks], -sel[picks].astype(np.float64)))][-1]
        b, c = listed[K], listed[K + 1]
        right = set(listed[:K]) == set(exact[:K])
        if bk[a] != bk[b] and sel[a] - bucket_best(bk[b]) > D_SEL:
            proven = dict.fromkeys(wrong, True)
        else:
            looked += 1
            before = sel[a] > sel[b] or (sel[a] == sel[b] and cand[a] < cand[b])
            past = sel[a] - bucket_best(bk[c]) > D_SEL
            proven = {"kernel": before and past, "no bound past the runner-up": before,
                      "no exact order of the pair": past}
        for name, p in proven.items():
            wrong[name] += p and not right
    print("rows %d, decided by the second look %d" % (TOKENS, looked))
    for name, n in wrong.items():
        print("routed wrongly, %s: %d" % (name, n))


if __name__ == "__main__":
    main()
