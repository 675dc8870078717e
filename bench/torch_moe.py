"""PyTorch per-expert MoE loop, the reference point for bench/moe.ts.

Runs forward and backward of a top-K SwiGLU MoE layer written the usual way
in PyTorch (gather each expert's rows, two matmuls, index_add back) on the
shapes given as JSON on stdin, and prints one JSON object per shape with the
best forward and backward times in seconds.

Input: {"tokens": T, "width": D, "configs": [[N, E, K], ...], "repeats": R, "threads": P}
"""
import json
import sys
import time

import torch
import torch.nn.functional as F


def moe_forward(x, router, w1, w2, top_k):
    # x: T x D, router: E x D, w1: E x 2N x D (gate/up interleaved), w2: E x D x N
    logits = x @ router.t()
    top_logits, top_experts = logits.topk(top_k, dim=1)
    scores = F.softmax(top_logits, dim=1)
    out = torch.zeros_like(x)
    for expert in range(router.shape[0]):
        rows, slots = (top_experts == expert).nonzero(as_tuple=True)
        if rows.numel() == 0:
            continue
        h = x[rows] @ w1[expert].t()
        a = F.silu(h[:, 0::2]) * h[:, 1::2]
        y = a @ w2[expert].t()
        out.index_add_(0, rows, y * scores[rows, slots].unsqueeze(1))
    return out


def main():
    spec = json.load(sys.stdin)
    torch.set_num_threads(spec["threads"])
    torch.manual_seed(0)
    tokens, width = spec["tokens"], spec["width"]
    for expert_width, experts, top_k in spec["configs"]:
        x = (torch.randn(tokens, width) * 0.5).requires_grad_()
        router = (torch.randn(experts, width) * 0.02).requires_grad_()
        w1 = (torch.randn(experts, 2 * expert_width, width) * 0.02).requires_grad_()
        w2 = (torch.randn(experts, width, expert_width) * 0.02).requires_grad_()
        grad_out = torch.randn(tokens, width)
        best_forward = best_backward = float("inf")
        for _ in range(spec["repeats"]):
            started = time.perf_counter()
            out = moe_forward(x, router, w1, w2, top_k)
            middle = time.perf_counter()
            out.backward(grad_out)
            finished = time.perf_counter()
            best_forward = min(best_forward, middle - started)
            best_backward = min(best_backward, finished - middle)
            for tensor in (x, router, w1, w2):
                tensor.grad = None
        print(json.dumps({"config": [expert_width, experts, top_k], "forward_s": best_forward, "backward_s": best_backward}), flush=True)


if __name__ == "__main__":
    main()
