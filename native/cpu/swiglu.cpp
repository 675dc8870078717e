// Dense SwiGLU on interleaved gate/up columns: column 2j of h_T2N is gate j
// and column 2j+1 is up j; out_TN[t, j] = silu(gate) * up, silu(g) = g * sigmoid(g).
//
// Shapes: T tokens, N SwiGLU width.
// Backward needs h_T2N from forward and writes dh_T2N (=):
//   dgate = dout * up * sigmoid(g) * (1 + g * (1 - sigmoid(g))), dup = dout * silu(g).
#include "cpu/common.h"
#include "cpu/ops.h"
#include "cpu/parallel.h"
#include "cpu/vmath.h"

namespace snax {

namespace {

void check_sizes(int64_t T, int64_t N) {
  SNAX_CHECK(T >= 0 && N >= 1, "INVALID_ARGUMENT", "swiglu: expected T >= 0 and N >= 1, got T=" << T << " N=" << N);
}

inline float sigmoid(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

}  // namespace

void swiglu_forward(float* out_TN, const float* h_T2N, int64_t T, int64_t N) {
  check_sizes(T, N);
  parallel_for(T, 8 * N, [&](int64_t t) {
    const float* h = h_T2N + t * 2 * N;
    float* out = out_TN + t * N;
    for (int64_t j = 0; j < N; ++j) {
      const float gate = h[2 * j], up = h[2 * j + 1];
      out[j] = gate * sigmoid(gate) * up;
    }
  });
}

void swiglu_backward(float* dh_T2N, const float* dout_TN, const float* h_T2N, int64_t T, int64_t N) {
  check_sizes(T, N);
  parallel_for(T, 12 * N, [&](int64_t t) {
    const float* h = h_T2N + t * 2 * N;
    const float* dout = dout_TN + t * N;
    float* dh = dh_T2N + t * 2 * N;
    for (int64_t j = 0; j < N; ++j) {
      const float gate = h[2 * j], up = h[2 * j + 1];
      const float sig = sigmoid(gate);
      dh[2 * j] = dout[j] * up * sig * (1.0f + gate * (1.0f - sig));
      dh[2 * j + 1] = dout[j] * gate * sig;
    }
  });
}

}  // namespace snax
