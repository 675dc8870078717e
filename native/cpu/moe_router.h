// The MoE router: logits, full softmax, top-K with renormalised scores, the
// auxiliary losses, and the backward pass from score gradients to the
// router weight and input gradients.
//
// Shapes: T tokens, D width, E experts, K experts per token, P routed pairs.
#pragma once

#include <cstdint>

#include "cpu/moe_routing.h"

namespace snax {

enum class MoeGate { kRenormalize = 0, kSoftmax = 1 };

// logits_TE (=) = x_TD router_ED^T. Throws NON_FINITE naming the first token
// whose logits contain NaN or infinity.
void router_logits(float* logits_TE, const float* x_TD, const float* router_ED, int64_t T, int64_t D, int64_t E);

// probs_TE (=) full softmax of each row, lse_T (=) its logsumexp.
void router_softmax(float* probs_TE, float* lse_T, const float* logits_TE, int64_t T, int64_t E);

// expert_TK (=) the K largest logits of each token in descending order, ties
// to the lower expert index; score_TK (=) the softmax over those K logits.
void router_topk(int32_t* expert_TK, float* score_TK, const float* logits_TE, int64_t T, int64_t E, int64_t K);

// E * sum_e mean_t(p_te) * frac_e with frac_e = count_e / (T*K), where
// count_e is the final number of pairs of expert e.
double router_balance_loss(const float* probs_TE, const int32_t* count_E, int64_t T, int64_t E, int64_t K);

// mean_t(lse_t^2).
double router_z_loss(const float* lse_T, int64_t T);

// Gradient of the loss with respect to the logits, dlogits_TE (=), from the
// pair score gradients ds_P and the scaled auxiliary losses.
// Token-choice pairs under `renormalize` take the softmax over the token's K
// chosen logits (dropped pairs take part with zero gradient). Added pairs,
// and token-choice pairs under `softmax`, take the full softmax.
// probs_TE and lse_T may be null only when no full-softmax term is needed.
struct RouterBackwardArgs {
  MoeGate gate = MoeGate::kRenormalize;
  double balance_coef = 0;
  double z_coef = 0;
};
void router_backward(float* dlogits_TE, const float* ds_P, const Routing& routing, const float* probs_TE,
                     const float* lse_T, const RouterBackwardArgs& args);

// dRouter_ED (+=) dlogits^T x and dx_TD (+=) dlogits router_ED.
void router_weight_backward(float* dRouter_ED, float* dx_TD, const float* dlogits_TE, const float* x_TD,
                            const float* router_ED, int64_t T, int64_t D, int64_t E);

}  // namespace snax
