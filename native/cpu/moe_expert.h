// The SwiGLU expert MLP over routed pairs, forward and backward.
//
// Shapes: T tokens, D width, E experts, N expert width, P routed pairs in
// expert-grouped order (see moe_routing.h). W1 rows are interleaved: row 2j
// of w1_E2ND[e] is gate j and row 2j+1 is up j. So h_P2N stores gate/up pairs
// side by side, and A = silu(gate) * up has N columns.
#pragma once

#include <cstdint>

#include "cpu/moe_routing.h"

namespace snax {

// h_P2N (=) x[token] W1_e^T for every pair, x rows gathered by index while
// packing. When a_PN is given, the epilogue also writes A = silu(gate) * up.
void expert_up_forward(float* h_P2N, float* a_PN, const Routing& routing, const float* x_TD, const float* w1_E2ND,
                       int64_t D, int64_t N);

// y_PD (=) A W2_e^T for every pair.
void expert_down_forward(float* y_PD, const float* a_PN, const Routing& routing, const float* w2_EDN, int64_t D,
                         int64_t N);

// out_TD (=) sum over each token's pairs, in expert order, of gate * y.
// A token with no pair gets zeros.
void combine_forward(float* out_TD, const float* y_PD, const Routing& routing, int64_t D);

// Down-projection backward with A recomputed from H in the GEMM epilogue.
// Reads dout rows by index: dA' = dout[token] W2_e, and on each output tile
// ds_P (=) <dA', A>, dA = s * dA', dH = dSwiGLU(dA, H).
// h_dh_P2N contains H on entry and dH (=) on return. sa_PN (=) s * A.
// ds_partial has P * ceil(N / gemm_col_block(N)) floats of scratch.
void expert_down_backward_recompute(float* ds_P, float* sa_PN, float* h_dh_P2N, float* ds_partial,
                                    const float* dout_TD, const Routing& routing, const float* w2_EDN, int64_t D,
                                    int64_t N);

// The same with A and Y cached by forward: ds_P (=) <dout[token], y>.
void expert_down_backward_cached(float* ds_P, float* sa_PN, float* h_dh_P2N, const float* a_PN, const float* y_PD,
                                 const float* dout_TD, const Routing& routing, const float* w2_EDN, int64_t D,
                                 int64_t N);

// dw2_EDN (+=) dout_e^T (s*A)_e and dw1_E2ND (+=) dH_e^T x_e, with dout and x
// rows gathered by index on the reduction side. One grouped GEMM of 2E
// problems; an expert without pairs keeps its gradients unchanged.
void expert_weight_backward(float* dw1_E2ND, float* dw2_EDN, const float* dh_P2N, const float* sa_PN,
                            const float* dout_TD, const float* x_TD, const Routing& routing, int64_t D, int64_t N);

// dx_TD (=) sum over each token's pairs, in expert order, of dH W1_e.
// dx_pairs_PD is scratch for the per-pair rows.
void expert_input_backward(float* dx_TD, float* dx_pairs_PD, const float* dh_P2N, const Routing& routing,
                           const float* w1_E2ND, int64_t D, int64_t N);

// a_PN (=) silu(gate) * up for `rows` rows of interleaved h_P2N.
void swiglu_rows(float* a_PN, const float* h_P2N, int64_t rows, int64_t N);

// dh_P2N (=) dSwiGLU(gate_P * dap_PN, h_P2N) for `rows` rows, and
// sa_PN (=) gate_P * A. dh_P2N may alias h_P2N.
void dswiglu_rows(float* dh_P2N, float* sa_PN, const float* dap_PN, const float* h_P2N, const float* gate_P,
                  int64_t rows, int64_t N);

}  // namespace snax
