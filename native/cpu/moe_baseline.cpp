// The plain per-expert MoE loop, forward and backward side by side, kept in
// the same binary so that benchmarks measure the fused layer against it in
// one run. Per expert: gather a copy of x, GEMM, SwiGLU, GEMM, scatter-add.
// It uses the same GEMM engine, router and routing as moe_layer.cpp.
//
// Backward needs: the gathered copies X_PD, H_P2N, A_PN, Y_PD, gates and the
// routing. Gradients: dx (=), dRouter, dw1, dw2 (+=).
#include <omp.h>

#include <cmath>

#include "cpu/common.h"
#include "cpu/gemm.h"
#include "cpu/moe_expert.h"
#include "cpu/moe_layer.h"

namespace snax {

namespace {

GemmProblem make_problem(int64_t m, int64_t n, int64_t k, MatrixView a, MatrixView b, float* c, bool accumulate) {
  GemmProblem p;
  p.m = m;
  p.n = n;
  p.k = k;
  p.a = a;
  p.b = b;
  p.c = c;
  p.ldc = n;
  p.accumulate = accumulate;
  return p;
}

// dst_RD (=) the rows src_TD[index[r]] for r in [0, rows).
void gather_rows(float* dst_RD, const float* src_TD, const int32_t* index, int64_t rows, int64_t D) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* src = src_TD + static_cast<int64_t>(index[r]) * D;
    for (int64_t d = 0; d < D; ++d) dst_RD[r * D + d] = src[d];
  }
}

// dst_TD[index[r]] += scale[r] * src_RD[r] (scale may be null for 1).
void scatter_add_rows(float* dst_TD, const float* src_RD, const float* scale, const int32_t* index, int64_t rows,
                      int64_t D) {
  for (int64_t r = 0; r < rows; ++r) {
    float* dst = dst_TD + static_cast<int64_t>(index[r]) * D;
    const float s = scale != nullptr ? scale[r] : 1.0f;
    for (int64_t d = 0; d < D; ++d) dst[d] += s * src_RD[r * D + d];
  }
}

}  // namespace

// ------------------------------------------------------------------ forward

std::unique_ptr<MoeContext> moe_baseline_forward(float* out_TD, MoeForwardInfo* info, const float* x_TD,
                                                 const float* router_ED, const float* w1_E2ND,
                                                 const float* w2_EDN, const MoeConfig& config) {
  validate_moe_config(config);
  MemoryMeter temp;  // declared before the context, whose buffers it may count
  auto context = std::make_unique<MoeContext>();
  context->config = config;
  context->baseline = true;
  context->x_TD = x_TD;
  const int64_t T = config.tokens, D = config.width, E = config.experts, N = config.expert_width;
  MemoryMeter& keep = config.save_for_backward ? context->meter : temp;

  route_tokens(*context, info, keep, temp, x_TD, router_ED);
  TokenMapsScope token_maps(context->routing);
  const Routing& routing = context->routing;
  const int64_t P = routing.pairs;

  Buffer<float> x_PD(keep, P * D), h_P2N(keep, P * 2 * N), a_PN(keep, P * N), y_PD(keep, P * D);
  for (int64_t d = 0; d < T * D; ++d) out_TD[d] = 0.0f;
  for (int64_t e = 0; e < E; ++e) {
    const int64_t rows = routing.count(e), first = routing.offset(e);
    if (rows == 0) continue;
    float* x_e = x_PD.data() + first * D;
    float* h_e = h_P2N.data() + first * 2 * N;
    float* a_e = a_PN.data() + first * N;
    float* y_e = y_PD.data() + first * D;
    gather_rows(x_e, x_TD, routing.pair_token_P.data() + first, rows, D);
    gemm(make_problem(rows, 2 * N, D, row_major(x_e, D), transposed(w1_E2ND + e * 2 * N * D, D), h_e, false));
    swiglu_rows(a_e, h_e, rows, N);
    gemm(make_problem(rows, D, N, row_major(a_e, N), transposed(w2_EDN + e * D * N, N), y_e, false));
    scatter_add_rows(out_TD, y_e, routing.pair_gate_P.data() + first, routing.pair_token_P.data() + first, rows, D);
  }

  info->saved_bytes = config.save_for_backward ? context->saved_bytes() : 0;
  info->peak_temporary_bytes = temp.peak;
  if (!config.save_for_backward) return nullptr;
  context->x_gathered_PD = std::move(x_PD);
  context->h_P2N = std::move(h_P2N);
  context->a_PN = std::move(a_PN);
  context->y_PD = std::move(y_PD);
  return context;
}

// ----------------------------------------------------------------- backward

void moe_baseline_backward(float* dx_TD, float* dRouter_ED, float* dw1_E2ND, float* dw2_EDN, MoeContext& context,
                           const float* dout_TD, const float* router_ED, const float* w1_E2ND, const float* w2_EDN) {
  const MoeConfig& c = context.config;
  const Routing& routing = context.routing;
  const int64_t T = c.tokens, D = c.width, E = c.experts, N = c.expert_width;
  MemoryMeter temp;
  build_token_maps(context.routing, temp);
  TokenMapsScope token_maps(context.routing);
  Buffer<float> ds_P(temp, routing.pairs);
  for (int64_t d = 0; d < T * D; ++d) dx_TD[d] = 0.0f;

  for (int64_t e = 0; e < E; ++e) {
    const int64_t rows = routing.count(e), first = routing.offset(e);
    if (rows == 0) continue;
    const int32_t* tokens = routing.pair_token_P.data() + first;
    const float* gates = routing.pair_gate_P.data() + first;
    const float* x_e = context.x_gathered_PD.data() + first * D;
    const float* h_e = context.h_P2N.data() + first * 2 * N;
    const float* y_e = context.y_PD.data() + first * D;

    Buffer<float> dout_e(temp, rows * D);
    gather_rows(dout_e.data(), dout_TD, tokens, rows, D);
    for (int64_t r = 0; r < rows; ++r) {
      float sum = 0.0f;
      for (int64_t d = 0; d < D; ++d) sum += dout_e[r * D + d] * y_e[r * D + d];
      ds_P[first + r] = sum;
    }

    Buffer<float> dap_e(temp, rows * N), dh_e(temp, rows * 2 * N), sa_e(temp, rows * N);
    gemm(make_problem(rows, N, D, row_major(dout_e.data(), D), row_major(w2_EDN + e * D * N, N), dap_e.data(), false));
    dswiglu_rows(dh_e.data(), sa_e.data(), dap_e.data(), h_e, gates, rows, N);
    gemm(make_problem(D, N, rows, transposed(dout_e.data(), D), row_major(sa_e.data(), N), dw2_EDN + e * D * N, true));
    gemm(make_problem(2 * N, D, rows, transposed(dh_e.data(), 2 * N), row_major(x_e, D), dw1_E2ND + e * 2 * N * D,
                      true));

    Buffer<float> dx_e(temp, rows * D);
    gemm(make_problem(rows, D, 2 * N, row_major(dh_e.data(), 2 * N), row_major(w1_E2ND + e * 2 * N * D, D),
                      dx_e.data(), false));
    scatter_add_rows(dx_TD, dx_e.data(), nullptr, tokens, rows, D);
  }
  context.x_gathered_PD.release();
  context.h_P2N.release();
  context.a_PN.release();
  context.y_PD.release();

  route_tokens_backward(dx_TD, dRouter_ED, ds_P.data(), context, temp, router_ED);
}

}  // namespace snax
