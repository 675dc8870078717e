// The MoE layer, forward and backward for the three recompute strategies.
//
// Forward: route, H = x W1^T with SwiGLU in the epilogue, Y = A W2^T,
// out = gather-sum of gate * Y. Backward needs what moe_layer.h lists per
// strategy. Gradients: dx (=), dRouter, dw1, dw2 (+=).
#include "cpu/moe_layer.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "cpu/common.h"
#include "cpu/gemm.h"
#include "cpu/moe_expert.h"

namespace snax {

namespace {

// Bytes of scratch rows that forward and backward reuse from one range of
// pairs to the next. Ranges are sized to stay under it.
// NOTE: 2, 4, 8 and 16 MiB were measured at T=4096, D=768, (N, E, K) =
// (128, 64, 8) on one 2-core machine. 8 and 16 were equal within noise and
// 2 was 10% slower; other machines may prefer another size.
constexpr int64_t kRangeScratchBytes = int64_t{8} << 20;

int64_t max_rows(const std::vector<PairRange>& ranges) {
  int64_t rows = 0;
  for (const PairRange& range : ranges) rows = std::max(rows, range.rows());
  return rows;
}

}  // namespace

void validate_moe_config(const MoeConfig& c) {
  SNAX_CHECK(c.tokens >= 1, "INVALID_ARGUMENT", "tokens must be an integer >= 1, got " << c.tokens);
  SNAX_CHECK(c.width >= 1, "INVALID_ARGUMENT", "width must be an integer >= 1, got " << c.width);
  SNAX_CHECK(c.experts >= 1, "INVALID_ARGUMENT", "experts must be an integer >= 1, got " << c.experts);
  SNAX_CHECK(c.expert_width >= 1, "INVALID_ARGUMENT", "expertWidth must be an integer >= 1, got " << c.expert_width);
  SNAX_CHECK(c.top_k >= 1 && c.top_k <= c.experts, "INVALID_ARGUMENT",
             "topK must be an integer in [1, " << c.experts << "] (at most the number of experts), got " << c.top_k);
  SNAX_CHECK(c.tokens * c.experts <= INT32_MAX, "INVALID_ARGUMENT",
             "tokens * experts must fit in int32 pair indices, got " << c.tokens << " * " << c.experts);
  SNAX_CHECK(c.tile >= 1, "INVALID_ARGUMENT", "tile must be an integer >= 1, got " << c.tile);
  SNAX_CHECK(!(c.top_k == 1 && c.gate == MoeGate::kRenormalize), "INVALID_ARGUMENT",
             "topK=1 with gate 'renormalize' is rejected: a softmax over one logit is always 1, so the router "
             "would learn nothing from the loss; use gate 'softmax'");
  SNAX_CHECK(std::isfinite(c.balance_coef) && std::isfinite(c.z_coef), "INVALID_ARGUMENT",
             "balanceLoss and zLoss must be finite, got " << c.balance_coef << " and " << c.z_coef);
}

// ------------------------------------------------------------------ routing

void route_tokens(MoeContext& context, MoeForwardInfo* info, MemoryMeter& keep, MemoryMeter& temp,
                  const float* x_TD, const float* router_ED) {
  const MoeConfig& c = context.config;
  const int64_t T = c.tokens, D = c.width, E = c.experts, K = c.top_k;
  Routing& routing = context.routing;
  routing.tokens = T;
  routing.experts = E;
  routing.top_k = K;

  Buffer<float> logits_TE(temp, T * E);
  router_logits(logits_TE.data(), x_TD, router_ED, T, D, E);
  Buffer<float> probs_TE(temp, T * E);
  Buffer<float> lse_T(temp, T);
  router_softmax(probs_TE.data(), lse_T.data(), logits_TE.data(), T, E);
  routing.topk_expert_TK = Buffer<int32_t>(keep, T * K);
  routing.topk_score_TK = Buffer<float>(keep, T * K);
  router_topk(routing.topk_expert_TK.data(), routing.topk_score_TK.data(), logits_TE.data(), T, E, K);
  logits_TE.release();

  Buffer<float> gate_score_TK(temp, T * K);
  for (int64_t i = 0; i < T * K; ++i)
    gate_score_TK[i] = c.gate == MoeGate::kRenormalize
                           ? routing.topk_score_TK[i]
                           : probs_TE[(i / K) * E + routing.topk_expert_TK[i]];
  build_routing(routing, info->routing, keep, temp, gate_score_TK.data(), probs_TE.data(), c.rounding, c.tile);

  info->tokens_per_expert.assign(E, 0);
  for (int64_t e = 0; e < E; ++e) info->tokens_per_expert[e] = static_cast<int32_t>(routing.count(e));
  info->balance_loss = router_balance_loss(probs_TE.data(), info->tokens_per_expert.data(), T, E, K);
  info->z_loss = router_z_loss(lse_T.data(), T);
}

void route_tokens_backward(float* dx_TD, float* dRouter_ED, const float* ds_P, const MoeContext& context,
                           MemoryMeter& temp, const float* router_ED) {
  const MoeConfig& c = context.config;
  const Routing& routing = context.routing;
  const int64_t T = c.tokens, D = c.width, E = c.experts;

  // The full softmax is needed for added pairs, the softmax gate and the
  // auxiliary losses; it is recomputed from x instead of being kept.
  bool needs_probs = c.gate == MoeGate::kSoftmax || c.balance_coef != 0 || c.z_coef != 0;
  for (int64_t p = 0; p < routing.pairs && !needs_probs; ++p) needs_probs = routing.pair_slot_P[p] < 0;
  Buffer<float> probs_TE, lse_T;
  if (needs_probs) {
    Buffer<float> logits_TE(temp, T * E);
    router_logits(logits_TE.data(), context.x_TD, router_ED, T, D, E);
    probs_TE = Buffer<float>(temp, T * E);
    lse_T = Buffer<float>(temp, T);
    router_softmax(probs_TE.data(), lse_T.data(), logits_TE.data(), T, E);
  }

  Buffer<float> dlogits_TE(temp, T * E);
  RouterBackwardArgs args;
  args.gate = c.gate;
  args.balance_coef = c.balance_coef;
  args.z_coef = c.z_coef;
  router_backward(dlogits_TE.data(), ds_P, routing, probs_TE.data(), lse_T.data(), args);
  router_weight_backward(dRouter_ED, dx_TD, dlogits_TE.data(), context.x_TD, router_ED, T, D, E);
}

// ------------------------------------------------------------------ forward

std::unique_ptr<MoeContext> moe_forward(float* out_TD, MoeForwardInfo* info, const float* x_TD,
                                        const float* router_ED, const float* w1_E2ND, const float* w2_EDN,
                                        const MoeConfig& config) {
  validate_moe_config(config);
  MemoryMeter temp;  // declared before the context, whose buffers it may count
  auto context = std::make_unique<MoeContext>();
  context->config = config;
  context->x_TD = x_TD;
  const int64_t D = config.width, N = config.expert_width;
  MemoryMeter& keep = config.save_for_backward ? context->meter : temp;

  route_tokens(*context, info, keep, temp, x_TD, router_ED);
  TokenMapsScope token_maps(context->routing);
  const Routing& routing = context->routing;
  const int64_t P = routing.pairs;

  const bool keep_h = config.strategy != MoeStrategy::kFull;
  const bool keep_a_y = config.strategy == MoeStrategy::kCacheAll;
  Buffer<float> h_P2N, a_PN, y_PD;
  if (keep_h) h_P2N = Buffer<float>(keep, P * 2 * N);
  if (keep_a_y) {
    a_PN = Buffer<float>(keep, P * N);
    y_PD = Buffer<float>(keep, P * D);
  }

  // One range of pairs at a time: up, down, then add gate * Y to each
  // token's output. What is not kept lives in scratch rows that the next
  // range reuses, so no buffer of P * D floats is allocated and touched.
  const int64_t scratch_per_pair = 4 * ((keep_h ? 0 : 2 * N) + (keep_a_y ? 0 : N + D));
  const std::vector<PairRange> ranges =
      split_pairs(routing, scratch_per_pair == 0 ? P : kRangeScratchBytes / scratch_per_pair);
  const int64_t rows = max_rows(ranges);
  Buffer<float> h_R2N(temp, keep_h ? 0 : rows * 2 * N);
  Buffer<float> a_RN(temp, keep_a_y ? 0 : rows * N);
  Buffer<float> y_RD(temp, keep_a_y ? 0 : rows * D);
  Buffer<int32_t> cursor_T(temp, routing.tokens);
  start_pair_sums(out_TD, cursor_T.data(), routing, D);
  for (const PairRange& range : ranges) {
    float* h = keep_h ? h_P2N.data() + range.begin * 2 * N : h_R2N.data();
    float* a = keep_a_y ? a_PN.data() + range.begin * N : a_RN.data();
    float* y = keep_a_y ? y_PD.data() + range.begin * D : y_RD.data();
    expert_up_forward(h, a, routing, range, x_TD, w1_E2ND, D, N);
    expert_down_forward(y, a, routing, range, w2_EDN, D, N);
    add_pair_rows(out_TD, cursor_T.data(), y, routing.pair_gate_P.data(), routing, range, D);
  }

  info->saved_bytes = config.save_for_backward ? context->saved_bytes() : 0;
  info->peak_temporary_bytes = temp.peak;
  if (!config.save_for_backward) return nullptr;
  if (keep_h) context->h_P2N = std::move(h_P2N);
  if (keep_a_y) {
    context->a_PN = std::move(a_PN);
    context->y_PD = std::move(y_PD);
  }
  return context;
}

// ----------------------------------------------------------------- backward

void moe_backward(float* dx_TD, float* dRouter_ED, float* dw1_E2ND, float* dw2_EDN, MoeContext& context,
                  const float* dout_TD, const float* router_ED, const float* w1_E2ND, const float* w2_EDN) {
  const MoeConfig& c = context.config;
  const Routing& routing = context.routing;
  const int64_t D = c.width, N = c.expert_width, P = routing.pairs;
  MemoryMeter temp;
  build_token_maps(context.routing, temp);
  TokenMapsScope token_maps(context.routing);

  Buffer<float> ds_P(temp, P);
  Buffer<float> sa_PN(temp, P * N);
  Buffer<float> h_P2N;
  if (c.strategy == MoeStrategy::kFull) {
    h_P2N = Buffer<float>(temp, P * 2 * N);
    expert_up_forward(h_P2N.data(), nullptr, routing, PairRange{0, P}, context.x_TD, w1_E2ND, D, N);
  } else {
    h_P2N = std::move(context.h_P2N);
  }

  // dA', dS, dA and dH. Afterwards h_P2N contains dH and sa_PN contains s * A.
  if (c.strategy == MoeStrategy::kCacheAll) {
    expert_down_backward_cached(ds_P.data(), sa_PN.data(), h_P2N.data(), context.a_PN.data(), context.y_PD.data(),
                                dout_TD, routing, w2_EDN, D, N);
    context.a_PN.release();
    context.y_PD.release();
  } else {
    const int64_t blocks = (N + gemm_col_block(N) - 1) / gemm_col_block(N);
    Buffer<float> ds_partial(temp, P * blocks);
    expert_down_backward_recompute(ds_P.data(), sa_PN.data(), h_P2N.data(), ds_partial.data(), dout_TD, routing,
                                   w2_EDN, D, N);
  }

  expert_weight_backward(dw1_E2ND, dw2_EDN, h_P2N.data(), sa_PN.data(), dout_TD, context.x_TD, routing, D, N);
  sa_PN.release();

  // dx (=) each token's sum of dH W1_e, one range of pairs at a time.
  {
    const std::vector<PairRange> ranges = split_pairs(routing, kRangeScratchBytes / (4 * D));
    Buffer<float> dx_RD(temp, max_rows(ranges) * D);
    Buffer<int32_t> cursor_T(temp, routing.tokens);
    start_pair_sums(dx_TD, cursor_T.data(), routing, D);
    for (const PairRange& range : ranges) {
      expert_input_backward(dx_RD.data(), h_P2N.data(), routing, range, w1_E2ND, D, N);
      add_pair_rows(dx_TD, cursor_T.data(), dx_RD.data(), nullptr, routing, range, D);
    }
  }
  h_P2N.release();

  route_tokens_backward(dx_TD, dRouter_ED, ds_P.data(), context, temp, router_ED);
}

}  // namespace snax
