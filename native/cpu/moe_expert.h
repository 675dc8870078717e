// The SwiGLU expert MLP over routed pairs, forward and backward.
//
// Shapes: T tokens, D width, E experts, N expert width, P routed pairs in
// expert-grouped order (see moe_routing.h), R pairs of one PairRange. W1 rows
// are interleaved: row 2j of w1_E2ND[e] is gate j and row 2j+1 is up j. So
// h_P2N stores gate/up pairs side by side, and A = silu(gate) * up has N
// columns.
#pragma once

#include <cstdint>
#include <vector>

#include "cpu/moe_routing.h"

namespace snax {

// The pairs [begin, end) in expert-grouped order. A buffer with an R suffix
// contains the rows of one range: its row r belongs to pair begin + r.
struct PairRange {
  int64_t begin = 0, end = 0;
  int64_t rows() const { return end - begin; }
};

// Splits [0, P) into consecutive ranges of whole experts with at most
// max_rows pairs each. An expert with more pairs gets ranges of its own, cut
// at multiples of gemm_row_block(). Returns no range when P is 0.
std::vector<PairRange> split_pairs(const Routing& routing, int64_t max_rows);

// h_R2N (=) x[token] W1_e^T for the pairs of `range`, x rows gathered by
// index while packing. When a_RN is given, the epilogue also writes
// A = silu(gate) * up.
void expert_up_forward(float* h_R2N, float* a_RN, const Routing& routing, PairRange range, const float* x_TD,
                       const float* w1_E2ND, int64_t D, int64_t N);

// y_RD (=) A W2_e^T for the pairs of `range`.
void expert_down_forward(float* y_RD, const float* a_RN, const Routing& routing, PairRange range,
                         const float* w2_EDN, int64_t D, int64_t N);

// Starts per-token sums over pairs: sum_TD (=) 0, and each token's cursor
// at its first entry in routing.token_pair_P. Needs the token maps.
void start_pair_sums(float* sum_TD, int32_t* cursor_T, const Routing& routing, int64_t D);

// sum_TD (+=) scale * row for each pair of `range`, where scale is the
// pair's gate, or 1 when gate_P is null. Each token adds its pairs in
// expert order and advances cursor_T past them, so calling this for
// consecutive ranges from the start adds every token's pairs in expert order.
void add_pair_rows(float* sum_TD, int32_t* cursor_T, const float* rows_RD, const float* gate_P,
                   const Routing& routing, PairRange range, int64_t D);

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

// dx_RD (=) dH W1_e for the pairs of `range`, reading their rows of dh_P2N.
// add_pair_rows then sums the rows of each token into dx.
void expert_input_backward(float* dx_RD, const float* dh_P2N, const Routing& routing, PairRange range,
                           const float* w1_E2ND, int64_t D, int64_t N);

// a_PN (=) silu(gate) * up for `rows` rows of interleaved h_P2N.
void swiglu_rows(float* a_PN, const float* h_P2N, int64_t rows, int64_t N);

// dh_P2N (=) dSwiGLU(gate_P * dap_PN, h_P2N) for `rows` rows, and
// sa_PN (=) gate_P * A. dh_P2N may alias h_P2N.
void dswiglu_rows(float* dh_P2N, float* sa_PN, const float* dap_PN, const float* h_P2N, const float* gate_P,
                  int64_t rows, int64_t N);

}  // namespace snax
