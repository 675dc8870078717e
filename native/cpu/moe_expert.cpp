// The SwiGLU expert MLP, forward and backward side by side.
//
// Forward: H = x W1^T (gathered rows, SwiGLU in the epilogue), Y = A W2^T,
// out = per-token gather-sum of gate * Y.
// Backward needs H (or A and Y with the cached variant), the gates, the
// routing and x. dH overwrites H in place. Gradients: dw1 and dw2 are
// accumulated (+=). dx is written (=): expert_input_backward writes its
// per-pair rows and add_pair_rows sums them per token.
#include "cpu/moe_expert.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "cpu/common.h"
#include "cpu/gemm.h"

namespace snax {

namespace {

inline float sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }

// dSwiGLU of one pair: from dA and (gate, up) to (dgate, dup).
inline void dswiglu_pair(float da, float gate, float up, float* dgate, float* dup) {
  const float sig = sigmoid(gate);
  const float silu = gate * sig;
  *dup = da * silu;
  *dgate = da * up * sig * (1.0f + gate * (1.0f - sig));
}

template <typename Body>
void parallel_rows(int64_t count, int64_t work_per_row, Body body) {
  const int threads = num_threads();
  if (threads <= 1 || count * work_per_row < 32768) {
    for (int64_t i = 0; i < count; ++i) body(i);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t i = 0; i < count; ++i) body(i);
}

}  // namespace

void swiglu_rows(float* a_PN, const float* h_P2N, int64_t rows, int64_t N) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < N; ++j) {
      const float gate = h_P2N[i * 2 * N + 2 * j], up = h_P2N[i * 2 * N + 2 * j + 1];
      a_PN[i * N + j] = gate * sigmoid(gate) * up;
    }
}

void dswiglu_rows(float* dh_P2N, float* sa_PN, const float* dap_PN, const float* h_P2N, const float* gate_P,
                  int64_t rows, int64_t N) {
  for (int64_t i = 0; i < rows; ++i)
    for (int64_t j = 0; j < N; ++j) {
      const float gate = h_P2N[i * 2 * N + 2 * j], up = h_P2N[i * 2 * N + 2 * j + 1];
      const float s = gate_P[i];
      sa_PN[i * N + j] = s * gate * sigmoid(gate) * up;
      dswiglu_pair(s * dap_PN[i * N + j], gate, up, &dh_P2N[i * 2 * N + 2 * j], &dh_P2N[i * 2 * N + 2 * j + 1]);
    }
}

// ------------------------------------------------------------------ ranges

namespace {

// The pairs of one expert that fall inside a range.
struct ExpertSlice {
  int64_t expert, begin, end;
};

// The experts with pairs in `range`, in expert order.
std::vector<ExpertSlice> expert_slices(const Routing& routing, PairRange range) {
  std::vector<ExpertSlice> slices;
  for (int64_t e = 0; e < routing.experts; ++e) {
    const int64_t begin = std::max(range.begin, routing.offset(e));
    const int64_t end = std::min(range.end, routing.offset(e) + routing.count(e));
    if (begin < end) slices.push_back({e, begin, end});
  }
  return slices;
}

}  // namespace

std::vector<PairRange> split_pairs(const Routing& routing, int64_t max_rows) {
  max_rows = std::max<int64_t>(1, max_rows);
  const int64_t step = std::max<int64_t>(1, max_rows / gemm_row_block()) * gemm_row_block();
  std::vector<PairRange> ranges;
  PairRange open;
  for (int64_t e = 0; e < routing.experts; ++e) {
    const int64_t begin = routing.offset(e), count = routing.count(e);
    if (open.rows() > 0 && open.rows() + count > max_rows) {
      ranges.push_back(open);
      open = PairRange{begin, begin};
    }
    if (count <= max_rows) {
      open.end = begin + count;
      continue;
    }
    // An expert over the limit: whole ranges of `step` pairs, the rest stays open.
    if (open.rows() > 0) ranges.push_back(open);
    int64_t row = 0;
    for (; count - row > max_rows; row += step) ranges.push_back(PairRange{begin + row, begin + row + step});
    open = PairRange{begin + row, begin + count};
  }
  if (open.rows() > 0) ranges.push_back(open);
  return ranges;
}

void start_pair_sums(float* sum_TD, int32_t* cursor_T, const Routing& routing, int64_t D) {
  parallel_rows(routing.tokens, D, [&](int64_t t) {
    std::fill(sum_TD + t * D, sum_TD + (t + 1) * D, 0.0f);
    cursor_T[t] = routing.token_offset_T1[t];
  });
}

void add_pair_rows(float* sum_TD, int32_t* cursor_T, const float* rows_RD, const float* gate_P,
                   const Routing& routing, PairRange range, int64_t D) {
  const int64_t T = routing.tokens;
  const int64_t rows_per_token = range.rows() / std::max<int64_t>(1, T) + 1;
  parallel_rows(T, D * rows_per_token, [&](int64_t t) {
    float* sum = sum_TD + t * D;
    const int32_t last = routing.token_offset_T1[t + 1];
    int32_t i = cursor_T[t];
    for (; i < last && routing.token_pair_P[i] < range.end; ++i) {
      const int32_t pair = routing.token_pair_P[i];
      const float* row = rows_RD + (pair - range.begin) * D;
      if (gate_P != nullptr) {
        const float gate = gate_P[pair];
        for (int64_t d = 0; d < D; ++d) sum[d] += gate * row[d];
      } else {
        for (int64_t d = 0; d < D; ++d) sum[d] += row[d];
      }
    }
    cursor_T[t] = i;
  });
}

// ------------------------------------------------------------------ forward

void expert_up_forward(float* h_R2N, float* a_RN, const Routing& routing, PairRange range, const float* x_TD,
                       const float* w1_E2ND, int64_t D, int64_t N) {
  const std::vector<ExpertSlice> slices = expert_slices(routing, range);
  std::vector<GemmProblem> problems(slices.size());
  for (size_t i = 0; i < slices.size(); ++i) {
    const ExpertSlice& slice = slices[i];
    GemmProblem& p = problems[i];
    p.m = slice.end - slice.begin;
    p.n = 2 * N;
    p.k = D;
    p.a = row_major(x_TD, D);
    p.a.row_index = routing.pair_token_P.data() + slice.begin;
    p.b = transposed(w1_E2ND + slice.expert * 2 * N * D, D);
    p.c = h_R2N + (slice.begin - range.begin) * 2 * N;
    p.ldc = 2 * N;
  }
  GemmEpilogue swiglu;
  if (a_RN != nullptr) {
    // col0 is even, so each block holds whole gate/up pairs.
    swiglu = [&](int64_t problem, int64_t row0, int64_t rows, int64_t col0, int64_t cols) {
      const int64_t first = slices[problem].begin - range.begin + row0;
      for (int64_t i = first; i < first + rows; ++i)
        for (int64_t c = col0; c < col0 + cols; c += 2) {
          const float gate = h_R2N[i * 2 * N + c], up = h_R2N[i * 2 * N + c + 1];
          a_RN[i * N + c / 2] = gate * sigmoid(gate) * up;
        }
    };
  }
  gemm_grouped(problems.data(), static_cast<int64_t>(problems.size()), swiglu);
}

void expert_down_forward(float* y_RD, const float* a_RN, const Routing& routing, PairRange range,
                         const float* w2_EDN, int64_t D, int64_t N) {
  const std::vector<ExpertSlice> slices = expert_slices(routing, range);
  std::vector<GemmProblem> problems(slices.size());
  for (size_t i = 0; i < slices.size(); ++i) {
    const ExpertSlice& slice = slices[i];
    GemmProblem& p = problems[i];
    p.m = slice.end - slice.begin;
    p.n = D;
    p.k = N;
    p.a = row_major(a_RN + (slice.begin - range.begin) * N, N);
    p.b = transposed(w2_EDN + slice.expert * D * N, N);
    p.c = y_RD + (slice.begin - range.begin) * D;
    p.ldc = D;
  }
  gemm_grouped(problems.data(), static_cast<int64_t>(problems.size()));
}

// ----------------------------------------------------------------- backward

namespace {

// dA' = dout[token] W2_e for every pair, into dap_PN, with an epilogue.
void down_backward_gemm(float* dap_PN, const float* dout_TD, const Routing& routing, const float* w2_EDN, int64_t D,
                        int64_t N, const GemmEpilogue& epilogue) {
  const int64_t E = routing.experts;
  std::vector<GemmProblem> problems(E);
  for (int64_t e = 0; e < E; ++e) {
    GemmProblem& p = problems[e];
    p.m = routing.count(e);
    p.n = N;
    p.k = D;
    p.a = row_major(dout_TD, D);
    p.a.row_index = routing.pair_token_P.data() + routing.offset(e);
    p.b = row_major(w2_EDN + e * D * N, N);
    p.c = dap_PN + routing.offset(e) * N;
    p.ldc = N;
  }
  gemm_grouped(problems.data(), E, epilogue);
}

}  // namespace

void expert_down_backward_recompute(float* ds_P, float* sa_PN, float* h_dh_P2N, float* ds_partial,
                                    const float* dout_TD, const Routing& routing, const float* w2_EDN, int64_t D,
                                    int64_t N) {
  const int64_t col_block = gemm_col_block(N);
  const int64_t blocks = (N + col_block - 1) / col_block;
  // On each tile of dA' (stored in sa_PN): recompute A from H, keep the
  // block's partial <dA', A>, write dH over H and s*A over dA'.
  GemmEpilogue epilogue = [&](int64_t e, int64_t row0, int64_t rows, int64_t col0, int64_t cols) {
    const int64_t first = routing.offset(e) + row0;
    for (int64_t i = first; i < first + rows; ++i) {
      const float s = routing.pair_gate_P[i];
      float* h = h_dh_P2N + i * 2 * N;
      float* dap = sa_PN + i * N;
      float partial = 0.0f;
      for (int64_t j = col0; j < col0 + cols; ++j) {
        const float gate = h[2 * j], up = h[2 * j + 1];
        const float a = gate * sigmoid(gate) * up;
        partial += dap[j] * a;
        dswiglu_pair(s * dap[j], gate, up, &h[2 * j], &h[2 * j + 1]);
        dap[j] = s * a;
      }
      ds_partial[i * blocks + col0 / col_block] = partial;
    }
  };
  down_backward_gemm(sa_PN, dout_TD, routing, w2_EDN, D, N, epilogue);

  // Add the column blocks' partial sums in block order.
  for (int64_t i = 0; i < routing.pairs; ++i) {
    float sum = 0.0f;
    for (int64_t b = 0; b < blocks; ++b) sum += ds_partial[i * blocks + b];
    ds_P[i] = sum;
  }
}

void expert_down_backward_cached(float* ds_P, float* sa_PN, float* h_dh_P2N, const float* a_PN, const float* y_PD,
                                 const float* dout_TD, const Routing& routing, const float* w2_EDN, int64_t D,
                                 int64_t N) {
  parallel_rows(routing.pairs, D, [&](int64_t i) {
    const float* g = dout_TD + static_cast<int64_t>(routing.pair_token_P[i]) * D;
    const float* y = y_PD + i * D;
    float sum = 0.0f;
    for (int64_t d = 0; d < D; ++d) sum += g[d] * y[d];
    ds_P[i] = sum;
  });
  GemmEpilogue epilogue = [&](int64_t e, int64_t row0, int64_t rows, int64_t col0, int64_t cols) {
    const int64_t first = routing.offset(e) + row0;
    for (int64_t i = first; i < first + rows; ++i) {
      const float s = routing.pair_gate_P[i];
      float* h = h_dh_P2N + i * 2 * N;
      float* dap = sa_PN + i * N;
      for (int64_t j = col0; j < col0 + cols; ++j) {
        dswiglu_pair(s * dap[j], h[2 * j], h[2 * j + 1], &h[2 * j], &h[2 * j + 1]);
        dap[j] = s * a_PN[i * N + j];
      }
    }
  };
  down_backward_gemm(sa_PN, dout_TD, routing, w2_EDN, D, N, epilogue);
}

void expert_weight_backward(float* dw1_E2ND, float* dw2_EDN, const float* dh_P2N, const float* sa_PN,
                            const float* dout_TD, const float* x_TD, const Routing& routing, int64_t D, int64_t N) {
  const int64_t E = routing.experts;
  std::vector<GemmProblem> problems(2 * E);
  for (int64_t e = 0; e < E; ++e) {
    const int32_t* tokens = routing.pair_token_P.data() + routing.offset(e);

    GemmProblem& w2 = problems[2 * e];
    w2.m = D;
    w2.n = N;
    w2.k = routing.count(e);
    w2.a.data = dout_TD;  // element (d, q) = dout[token q][d]
    w2.a.row_stride = 1;
    w2.a.col_stride = D;
    w2.a.col_index = tokens;
    w2.b = row_major(sa_PN + routing.offset(e) * N, N);
    w2.c = dw2_EDN + e * D * N;
    w2.ldc = N;
    w2.accumulate = true;

    GemmProblem& w1 = problems[2 * e + 1];
    w1.m = 2 * N;
    w1.n = D;
    w1.k = routing.count(e);
    w1.a = transposed(dh_P2N + routing.offset(e) * 2 * N, 2 * N);
    w1.b = row_major(x_TD, D);
    w1.b.row_index = tokens;
    w1.c = dw1_E2ND + e * 2 * N * D;
    w1.ldc = D;
    w1.accumulate = true;
  }
  gemm_grouped(problems.data(), 2 * E);
}

void expert_input_backward(float* dx_RD, const float* dh_P2N, const Routing& routing, PairRange range,
                           const float* w1_E2ND, int64_t D, int64_t N) {
  const std::vector<ExpertSlice> slices = expert_slices(routing, range);
  std::vector<GemmProblem> problems(slices.size());
  for (size_t i = 0; i < slices.size(); ++i) {
    const ExpertSlice& slice = slices[i];
    GemmProblem& p = problems[i];
    p.m = slice.end - slice.begin;
    p.n = D;
    p.k = 2 * N;
    p.a = row_major(dh_P2N + slice.begin * 2 * N, 2 * N);
    p.b = row_major(w1_E2ND + slice.expert * 2 * N * D, D);
    p.c = dx_RD + (slice.begin - range.begin) * D;
    p.ldc = D;
  }
  gemm_grouped(problems.data(), static_cast<int64_t>(problems.size()));
}

}  // namespace snax
