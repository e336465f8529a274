#!/usr/bin/env python3
"""How many tokens the sigmoid row kernel leaves unproven, and which check
fails: a CPU model of its decisions (lib/route/route_rows.cuh) on
route_bench's inputs, for deepseek-v3 (E = 256 in 8 groups of 32, 4 groups
kept, k = 8, a group's score the sum of its top two sels).

    perf/route_proof_model.py [--tokens T] [--seed S]

The model takes the exact sels for the approximate ones (the two differ by
at most kSigmoidErr, far below the margins) and applies the kernel's checks
with its margins:
  - groups: the worst chosen group's score above the best left out by 4 dSel;
  - the set: the last pick above the best value the runner-up's key bucket
    can hold (keys: sel - 1 with the expert in the low 8 bits) by dSel
    (exact order) or 2 dSel (before);
  - the order within the set: before exact order, every adjacent pair of
    picks 2 dSel apart; with it, none (the exact sels order them; only a
    pair the approximate order got wrong fails, which the model cannot see
    and the GPU's TRACE count includes).
dSel = kSigmoidErr + (1 + max|bias|) 2^-21, as in the kernel.
Needs numpy. perf/RESULTS.md (tenth round) has the model next to the GPU's
counts: 3.49% modelled against 3.50% measured before, 0.45% against 0.50%
after (keys then held the expert in 9 bits; 8 since key8, thirteenth round).
Not modelled: the 16-bit lists' second look and the sieve (route_rows.cuh);
tests/route/second_look_model.py models the second look on its test's rows.
"""
import argparse

import numpy as np

GROUPS, KEPT, K, EXPERTS = 8, 4, 8, 256
EXPERT_BITS = 255  # route_keys.h kExpertBits


def ord_key(v):
    """route_keys.h ordKey on float32 values: int32 keys ordered like the floats."""
    i = v.astype(np.float32).view(np.int32)
    return np.where(i >= 0, i, i ^ 0x7FFFFFFF).astype(np.int32)


def key_value(k):
    """route_keys.h keyValue: the float32 a key was made from."""
    k = np.asarray(k, dtype=np.int32)
    return np.where(k >= 0, k, k ^ 0x7FFFFFFF).astype(np.int32).view(np.float32)


def bench_inputs(tokens, seed):
    """route_bench's distributions: logits uniform in [-4, 4], bias 0.001 x that."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-4, 4, (tokens, EXPERTS)).astype(np.float32)
    bias = (rng.uniform(-4, 4, EXPERTS) * 0.001).astype(np.float32)
    s = (1.0 / (1.0 + np.exp(-x.astype(np.float64)))).astype(np.float32)
    return (s + bias).astype(np.float32), float(np.abs(bias).max())


def unproven(sel, max_abs_bias, sigmoid_err, exact_order):
    """Fractions of tokens failing each check (a token may fail several)."""
    d_sel = sigmoid_err + (1 + max_abs_bias) * 2.0**-21
    slack = (3 + max_abs_bias) * 2.0**-22  # route_keys.h sigmoidKeySlack
    tokens = sel.shape[0]
    g = sel.reshape(tokens, GROUPS, EXPERTS // GROUPS)
    top2 = np.sort(g, axis=2)[:, :, -2:]
    score = (top2[:, :, 1] + top2[:, :, 0]).astype(np.float32)
    order = np.argsort(-score, axis=1, kind="stable")
    ranked = np.take_along_axis(score, order, 1)
    groups_ok = ranked[:, KEPT - 1] - ranked[:, KEPT] > 4 * d_sel
    chosen = order[:, :KEPT]
    cand = np.take_along_axis(g, chosen[:, :, None].repeat(g.shape[2], 2), 1).reshape(tokens, -1)
    top = -np.sort(-cand, axis=1)[:, : K + 1]
    key = ~ord_key(top - np.float32(1.0))  # valueKey<false>: descKey(sel - 1)
    bucket = key & ~EXPERT_BITS
    same_bucket = bucket[:, K - 1] == bucket[:, K]
    best = (key_value(~bucket[:, K]) + np.float32(1.0)) + slack  # keyBound<false>
    set_ok = ~same_bucket & (top[:, K - 1] - best > (1 if exact_order else 2) * d_sel)
    order_ok = np.ones(tokens, bool) if exact_order else np.all(top[:, : K - 1] - top[:, 1:K] > 2 * d_sel, axis=1)
    ok = groups_ok & set_ok & order_ok
    return {"unproven": 1 - ok.mean(), "groups": 1 - groups_ok.mean(), "set": 1 - set_ok.mean(),
            "order": 1 - order_ok.mean(), "same bucket": same_bucket.mean()}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--tokens", type=int, default=65536)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    sel, max_abs_bias = bench_inputs(args.tokens, args.seed)
    for name, err, exact in (("pairs proven, kSigmoidErr 2^-19", 2.0**-19, False),
                             ("exact order, kSigmoidErr 2^-19", 2.0**-19, True),
                             ("exact order, kSigmoidErr 2^-20", 2.0**-20, True)):
        r = unproven(sel, max_abs_bias, err, exact)
        print(f"{name}: " + ", ".join(f"{k} {100 * v:.2f}%" for k, v in r.items()))


if __name__ == "__main__":
    main()
