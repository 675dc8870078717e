// The MoE layer: router, routing, token rounding and SwiGLU experts, with a
// forward/backward pair per recompute strategy, plus the plain per-expert
// baseline used by the benchmark.
//
// Shapes: T tokens, D width, E experts, K experts per token, N expert width,
// P routed pairs after rounding.
//
// What backward keeps (all counted by MoeContext::meter):
//   snax       x (the caller's array, not copied), H_P2N, gates, routing
//   cache-all  x, H_P2N, A_PN, Y_PD, gates, routing
//   full       x, gates, routing; H is recomputed by one extra grouped GEMM
//   baseline   gathered x copies X_PD, H_P2N, A_PN, Y_PD, gates, routing
// Gradients: dx_TD is written (=); dRouter_ED, dw1_E2ND and dw2_EDN are
// accumulated (+=). The auxiliary losses' gradients are included.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "cpu/moe_buffer.h"
#include "cpu/moe_router.h"
#include "cpu/moe_routing.h"

namespace snax {

enum class MoeStrategy { kSnax = 0, kCacheAll = 1, kFull = 2 };

struct MoeConfig {
  int64_t tokens = 0, width = 0, experts = 0, top_k = 0, expert_width = 0;
  MoeGate gate = MoeGate::kRenormalize;
  MoeRounding rounding = MoeRounding::kNone;
  int64_t tile = 0;
  MoeStrategy strategy = MoeStrategy::kSnax;
  double balance_coef = 0, z_coef = 0;
  bool save_for_backward = true;
};

// Throws INVALID_ARGUMENT naming the first bad field.
void validate_moe_config(const MoeConfig& config);

// Routing statistics, losses and memory totals of one forward.
struct MoeForwardInfo {
  RoutingStats routing;
  std::vector<int32_t> tokens_per_expert;  // final pair count of each expert
  double balance_loss = 0;                 // unscaled
  double z_loss = 0;                       // unscaled
  int64_t saved_bytes = 0;
  int64_t peak_temporary_bytes = 0;
};

// Everything forward keeps for backward. x_TD points at the caller's array,
// which must stay alive and unchanged until backward.
struct MoeContext {
  MoeConfig config;
  bool baseline = false;
  const float* x_TD = nullptr;
  MemoryMeter meter;  // declared before the buffers so it outlives them
  Routing routing;
  Buffer<float> h_P2N, a_PN, y_PD, x_gathered_PD;
  int64_t saved_bytes() const { return meter.current; }
};

// out_TD (=) the layer output. Returns the context for backward, or null
// when config.save_for_backward is false.
std::unique_ptr<MoeContext> moe_forward(float* out_TD, MoeForwardInfo* info, const float* x_TD,
                                        const float* router_ED, const float* w1_E2ND, const float* w2_EDN,
                                        const MoeConfig& config);

// Backward of moe_forward for the strategy it ran with. Consumes the saved
// buffers (dH overwrites H), so a context serves one backward.
void moe_backward(float* dx_TD, float* dRouter_ED, float* dw1_E2ND, float* dw2_EDN, MoeContext& context,
                  const float* dout_TD, const float* router_ED, const float* w1_E2ND, const float* w2_EDN);

// The plain baseline: per expert, gather a copy of x, GEMM, SwiGLU, GEMM,
// scatter-add, with the same GEMM engine and the same router and routing.
std::unique_ptr<MoeContext> moe_baseline_forward(float* out_TD, MoeForwardInfo* info, const float* x_TD,
                                                 const float* router_ED, const float* w1_E2ND,
                                                 const float* w2_EDN, const MoeConfig& config);
void moe_baseline_backward(float* dx_TD, float* dRouter_ED, float* dw1_E2ND, float* dw2_EDN, MoeContext& context,
                           const float* dout_TD, const float* router_ED, const float* w1_E2ND, const float* w2_EDN);

// Shared by both layers: router forward and routing into context.routing,
// filling info's routing fields and losses. The kept routing arrays are
// counted by `keep` and the token maps by `temp`. The caller must release
// the token maps (TokenMapsScope) before `temp` goes away.
void route_tokens(MoeContext& context, MoeForwardInfo* info, MemoryMeter& keep, MemoryMeter& temp,
                  const float* x_TD, const float* router_ED);

// Shared by both layers: the router's share of backward from ds_P.
// The token maps must be built. dRouter_ED (+=), dx_TD (+=).
void route_tokens_backward(float* dx_TD, float* dRouter_ED, const float* ds_P, const MoeContext& context,
                           MemoryMeter& temp, const float* router_ED);

}  // namespace snax
