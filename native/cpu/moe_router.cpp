// The MoE router, forward and backward side by side.
//
// Forward: logits_TE = x_TD router_ED^T, probs_TE and lse_T (full softmax),
// top-K experts with renormalised scores, the balancing and z losses.
// Backward needs: the routing (top-K choice, pairs and their slots), and
// probs_TE and lse_T recomputed from x when a full-softmax term exists.
// Gradients: dlogits_TE is written (=); dRouter_ED and dx_TD are
// accumulated (+=).
#include "cpu/moe_router.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/common.h"
#include "cpu/gemm.h"
#include "cpu/ops.h"

namespace snax {

namespace {

// Runs body(t) for t in [0, count) on a static schedule, or inline when the
// loop is too small to be worth entering OpenMP.
template <typename Body>
void parallel_rows(int64_t count, int64_t work_per_row, Body body) {
  const int threads = num_threads();
  if (threads <= 1 || count * work_per_row < 32768) {
    for (int64_t t = 0; t < count; ++t) body(t);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t t = 0; t < count; ++t) body(t);
}

}  // namespace

// ------------------------------------------------------------------ forward

void router_logits(float* logits_TE, const float* x_TD, const float* router_ED, int64_t T, int64_t D, int64_t E) {
  linear_forward(logits_TE, x_TD, router_ED, T, D, E);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t e = 0; e < E; ++e)
      SNAX_CHECK(std::isfinite(logits_TE[t * E + e]), "NON_FINITE",
                 "router logits of token " << t << " are not finite (expert " << e << " has "
                                           << logits_TE[t * E + e] << "); check x and router weights for NaN or overflow");
}

void router_softmax(float* probs_TE, float* lse_T, const float* logits_TE, int64_t T, int64_t E) {
  parallel_rows(T, E, [&](int64_t t) {
    const float* row = logits_TE + t * E;
    float max_logit = row[0];
    for (int64_t e = 1; e < E; ++e) max_logit = std::max(max_logit, row[e]);
    double sum = 0;
    for (int64_t e = 0; e < E; ++e) sum += std::exp(static_cast<double>(row[e] - max_logit));
    for (int64_t e = 0; e < E; ++e)
      probs_TE[t * E + e] = static_cast<float>(std::exp(static_cast<double>(row[e] - max_logit)) / sum);
    lse_T[t] = static_cast<float>(max_logit + std::log(sum));
  });
}

void router_topk(int32_t* expert_TK, float* score_TK, const float* logits_TE, int64_t T, int64_t E, int64_t K) {
  SNAX_CHECK(K >= 1 && K <= E, "INVALID_ARGUMENT", "topK must be in [1, " << E << "], got " << K);
  parallel_rows(T, E * K, [&](int64_t t) {
    const float* row = logits_TE + t * E;
    int32_t* chosen = expert_TK + t * K;
    // Higher logit first; the lower index wins a tie.
    std::vector<int32_t> order(E);
    for (int64_t e = 0; e < E; ++e) order[e] = static_cast<int32_t>(e);
    std::partial_sort(order.begin(), order.begin() + K, order.end(), [row](int32_t a, int32_t b) {
      return row[a] != row[b] ? row[a] > row[b] : a < b;
    });
    for (int64_t k = 0; k < K; ++k) chosen[k] = order[k];
    const float max_logit = row[chosen[0]];
    double sum = 0;
    for (int64_t k = 0; k < K; ++k) sum += std::exp(static_cast<double>(row[chosen[k]] - max_logit));
    for (int64_t k = 0; k < K; ++k)
      score_TK[t * K + k] = static_cast<float>(std::exp(static_cast<double>(row[chosen[k]] - max_logit)) / sum);
  });
}

double router_balance_loss(const float* probs_TE, const int32_t* count_E, int64_t T, int64_t E, int64_t K) {
  if (T == 0) return 0;
  double loss = 0;
  for (int64_t e = 0; e < E; ++e) {
    double mean_p = 0;
    for (int64_t t = 0; t < T; ++t) mean_p += probs_TE[t * E + e];
    mean_p /= static_cast<double>(T);
    loss += mean_p * static_cast<double>(count_E[e]) / static_cast<double>(T * K);
  }
  return static_cast<double>(E) * loss;
}

double router_z_loss(const float* lse_T, int64_t T) {
  if (T == 0) return 0;
  double sum = 0;
  for (int64_t t = 0; t < T; ++t) sum += static_cast<double>(lse_T[t]) * lse_T[t];
  return sum / static_cast<double>(T);
}

// ----------------------------------------------------------------- backward

void router_backward(float* dlogits_TE, const float* ds_P, const Routing& routing, const float* probs_TE,
                     const float* lse_T, const RouterBackwardArgs& args) {
  const int64_t T = routing.tokens, E = routing.experts, K = routing.top_k;

  // d(balance)/d(p_te) = coef * E * frac_e / T, the same for every token.
  std::vector<double> balance_grad_E(E, 0.0);
  if (args.balance_coef != 0 && T > 0)
    for (int64_t e = 0; e < E; ++e)
      balance_grad_E[e] = args.balance_coef * static_cast<double>(E) * routing.count(e) /
                          (static_cast<double>(T) * static_cast<double>(T * K));

  parallel_rows(T, E, [&](int64_t t) {
    float* dl = dlogits_TE + t * E;
    for (int64_t e = 0; e < E; ++e) dl[e] = 0.0f;
    const float* p = probs_TE != nullptr ? probs_TE + t * E : nullptr;
    const int32_t begin = routing.token_offset_T1[t], end = routing.token_offset_T1[t + 1];

    // Softmax over the K chosen logits: g_k = dS of the kept pair, 0 if dropped.
    if (args.gate == MoeGate::kRenormalize) {
      double g[64];
      std::vector<double> g_heap;
      double* g_K = g;
      if (K > 64) {
        g_heap.assign(K, 0.0);
        g_K = g_heap.data();
      }
      for (int64_t k = 0; k < K; ++k) g_K[k] = 0.0;
      for (int32_t i = begin; i < end; ++i) {
        int32_t pair = routing.token_pair_P[i];
        int32_t slot = routing.pair_slot_P[pair];
        if (slot >= 0) g_K[slot] = ds_P[pair];
      }
      const float* s = routing.topk_score_TK.data() + t * K;
      double weighted = 0;
      for (int64_t k = 0; k < K; ++k) weighted += s[k] * g_K[k];
      for (int64_t k = 0; k < K; ++k) dl[routing.topk_expert_TK[t * K + k]] += static_cast<float>(s[k] * (g_K[k] - weighted));
    }

    // Full softmax: h_e = dS of pairs gated by p_te, plus the balancing and z-loss terms.
    bool has_full = args.balance_coef != 0 || args.z_coef != 0;
    for (int32_t i = begin; i < end && !has_full; ++i)
      has_full = args.gate == MoeGate::kSoftmax || routing.pair_slot_P[routing.token_pair_P[i]] < 0;
    if (!has_full) return;
    double h[256];
    std::vector<double> h_heap;
    double* h_E = h;
    if (E > 256) {
      h_heap.assign(E, 0.0);
      h_E = h_heap.data();
    }
    for (int64_t e = 0; e < E; ++e) h_E[e] = balance_grad_E[e];
    for (int32_t i = begin; i < end; ++i) {
      int32_t pair = routing.token_pair_P[i];
      if (args.gate == MoeGate::kSoftmax || routing.pair_slot_P[pair] < 0) h_E[routing.pair_expert_P[pair]] += ds_P[pair];
    }
    double weighted = 0;
    for (int64_t e = 0; e < E; ++e) weighted += p[e] * h_E[e];
    const double z_scale = args.z_coef * 2.0 * (T > 0 ? lse_T[t] / static_cast<double>(T) : 0.0);
    for (int64_t e = 0; e < E; ++e) dl[e] += static_cast<float>(p[e] * (h_E[e] - weighted) + z_scale * p[e]);
  });
}

void router_weight_backward(float* dRouter_ED, float* dx_TD, const float* dlogits_TE, const float* x_TD,
                            const float* router_ED, int64_t T, int64_t D, int64_t E) {
  GemmProblem weight;
  weight.m = E;
  weight.n = D;
  weight.k = T;
  weight.a = transposed(dlogits_TE, E);
  weight.b = row_major(x_TD, D);
  weight.c = dRouter_ED;
  weight.ldc = D;
  weight.accumulate = true;

  GemmProblem input;
  input.m = T;
  input.n = D;
  input.k = E;
  input.a = row_major(dlogits_TE, E);
  input.b = row_major(router_ED, D);
  input.c = dx_TD;
  input.ldc = D;
  input.accumulate = true;

  const GemmProblem problems[2] = {weight, input};
  gemm_grouped(problems, 2);
}

}  // namespace snax
