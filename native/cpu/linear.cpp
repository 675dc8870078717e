// Linear layer without bias: out_TO = x_TI * w_OI^T, with the weight stored
// O x I (one row per output feature).
//
// Shapes: T tokens, I input width, O output width.
// Backward needs x_TI and w_OI. It writes dx_TI (=) and accumulates into
// dw_OI (+=). All products run on the GEMM engine in gemm.h.
#include "cpu/common.h"
#include "cpu/gemm.h"
#include "cpu/ops.h"

namespace snax {

namespace {

void check_sizes(int64_t T, int64_t I, int64_t O) {
  SNAX_CHECK(T >= 0 && I >= 1 && O >= 1, "INVALID_ARGUMENT",
             "linear: expected T >= 0, I >= 1, O >= 1, got T=" << T << " I=" << I << " O=" << O);
}

}  // namespace

void linear_forward(float* out_TO, const float* x_TI, const float* w_OI, int64_t T, int64_t I, int64_t O) {
  check_sizes(T, I, O);
  GemmProblem problem;
  problem.m = T;
  problem.n = O;
  problem.k = I;
  problem.a = row_major(x_TI, I);
  problem.b = transposed(w_OI, I);
  problem.c = out_TO;
  problem.ldc = O;
  gemm(problem);
}

void linear_backward(float* dx_TI, float* dw_OI, const float* dout_TO, const float* x_TI, const float* w_OI, int64_t T,
                     int64_t I, int64_t O) {
  check_sizes(T, I, O);
  GemmProblem problems[2];
  int64_t count = 0;

  // dw_OI += dout_TO^T * x_TI: a reduction over tokens.
  GemmProblem& weight_grad = problems[count++];
  weight_grad.m = O;
  weight_grad.n = I;
  weight_grad.k = T;
  weight_grad.a = transposed(dout_TO, O);
  weight_grad.b = row_major(x_TI, I);
  weight_grad.c = dw_OI;
  weight_grad.ldc = I;
  weight_grad.accumulate = true;

  // dx_TI = dout_TO * w_OI.
  if (dx_TI != nullptr) {
    GemmProblem& input_grad = problems[count++];
    input_grad.m = T;
    input_grad.n = I;
    input_grad.k = O;
    input_grad.a = row_major(dout_TO, O);
    input_grad.b = row_major(w_OI, I);
    input_grad.c = dx_TI;
    input_grad.ldc = I;
  }

  gemm_grouped(problems, count);
}

}  // namespace snax
