#!/usr/bin/env python3
"""The routing of route_bench in PyTorch eager ops (softmax/sigmoid, topk,
gather, scatter), for the same sizes and presets; prints one line per case:
"preset dtype microseconds" (median of CUDA-event timings of one call, each
followed by a synchronize, as route_bench times samRouteForward).
Outputs match what samRouteForward computes: indices, weights, per-rank and
per-expert counts and the three auxiliary losses (left on the GPU)."""
import argparse
import torch

PRESETS = {
    # name: (score, G (0 = R), M (0 = G), reduce, n, k, renorm, scale, bias)
    "switch": ("softmax", 0, 0, "sum", 2, 1, False, 1.0, False),
    "gshard": ("softmax", 0, 0, "sum", 2, 2, False, 1.0, False),
    "sam": ("softmax", 0, 1, "sum", 2, 2, False, 1.0, False),
    "deepseek-v2": ("softmax", 8, 3, "max", 2, 6, False, 16.0, False),
    "deepseek-v3": ("sigmoid", 8, 4, "topn", 2, 8, True, 2.5, True),
}


def route(x, E, R, preset, bias):
    score, G, M, reduce, n, k, renorm, scale, use_bias = PRESETS[preset]
    G = G or R
    M = M or G
    T = x.shape[0]
    xf = x.float()
    s = torch.sigmoid(xf) if score == "sigmoid" else torch.softmax(xf, dim=-1)
    sel = s + bias if use_bias else s
    gs = E // G
    chosen = None
    if M < G:
        g = sel.view(T, G, gs)
        if reduce == "sum":
            gscore = g.sum(-1)
        elif reduce == "max":
            gscore = g.amax(-1)
        else:
            gscore = g.topk(n, dim=-1).values.sum(-1)
        gidx = gscore.topk(M, dim=-1).indices
        chosen = torch.zeros(T, G, dtype=torch.bool, device=x.device).scatter_(1, gidx, True)
        sel = sel.masked_fill(~chosen.unsqueeze(-1).expand(T, G, gs).reshape(T, E), float("-inf"))
    topi = sel.topk(k, dim=-1).indices
    w = s.gather(1, topi)
    if renorm:
        w = w / w.sum(-1, keepdim=True)
    w = w * scale
    expert_counts = torch.zeros(E, dtype=torch.int32, device=x.device).scatter_add_(
        0, topi.flatten(), torch.ones(T * k, dtype=torch.int32, device=x.device))
    on_rank = torch.zeros(T, R, dtype=torch.int32, device=x.device).scatter_(1, topi // (E // R), 1)
    rank_counts = on_rank.sum(0)
    f = expert_counts.float() / (T * k)
    P = s.mean(0)
    expert_balance = E * (f * P).sum()
    device_balance = G * (f.view(G, gs).sum(-1) * P.view(G, gs).sum(-1)).sum()
    if chosen is not None:
        lowest = s.gather(1, topi).amin(-1, keepdim=True)
        off = ~chosen.unsqueeze(-1).expand(T, G, gs).reshape(T, E)
        alignment = ((s - lowest).clamp_min(0) * off).sum()
    else:
        alignment = torch.zeros((), device=x.device)
    return topi.int(), w, rank_counts, expert_counts, expert_balance, device_balance, alignment


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-t", type=int, default=65536)
    ap.add_argument("-e", type=int, default=256)
    ap.add_argument("-r", type=int, default=8)
    ap.add_argument("-n", type=int, default=200)
    ap.add_argument("-w", type=int, default=20)
    a = ap.parse_args()
    dev = torch.device("cuda")
    g = torch.Generator(device=dev).manual_seed(1)
    x32 = (torch.rand(a.t, a.e, device=dev, generator=g) * 8 - 4)
    bias = (torch.rand(a.e, device=dev, generator=g) * 8 - 4) * 0.001
    print(f"# route_torch: torch {torch.__version__}, {torch.cuda.get_device_name()}, T={a.t} E={a.e} R={a.r}")
    for dtype, name in ((torch.float32, "fp32"), (torch.bfloat16, "bf16")):
        x = x32.to(dtype)
        for preset in PRESETS:
            for _ in range(a.w):
                route(x, a.e, a.r, preset, bias)
            torch.cuda.synchronize()
            times = []
            for _ in range(a.n):
                s, e = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                s.record()
                route(x, a.e, a.r, preset, bias)
                e.record()
                torch.cuda.synchronize()
                times.append(s.elapsed_time(e) * 1000.0)
            times.sort()
            print(f"{preset} {name} {times[len(times) // 2]:.1f}", flush=True)


if __name__ == "__main__":
    main()
