// The GEMM engine: float32 inputs, float32 accumulation, a grouped form in
// which every problem may gather the rows or columns of either operand by an
// index list while packing, so no gathered copy is ever made in memory.
//
// Shapes: each problem computes C[m x n] (= or +=) A[m x k] * B[k x n].
// Grouped uses: forward up-projection (one problem per expert, different m),
// weight gradients (one problem per expert, different k, the reduction).
#pragma once

#include <cstdint>
#include <functional>

namespace snax {

// A logical matrix read through strides and optional index gathers.
// Element (i, j) is data[row(i) * row_stride + col(j) * col_stride], where
// row(i) = row_index ? row_index[i] : i and col(j) likewise.
struct MatrixView {
  const float* data = nullptr;
  int64_t row_stride = 0;
  int64_t col_stride = 1;
  const int32_t* row_index = nullptr;
  const int32_t* col_index = nullptr;
};

// A row-major matrix with `cols` columns.
inline MatrixView row_major(const float* data, int64_t cols) {
  MatrixView view;
  view.data = data;
  view.row_stride = cols;
  view.col_stride = 1;
  return view;
}

// The transpose of a row-major matrix with `cols` columns: element (i, j)
// of the view is element (j, i) of the stored matrix.
inline MatrixView transposed(const float* data, int64_t cols) {
  MatrixView view;
  view.data = data;
  view.row_stride = 1;
  view.col_stride = cols;
  return view;
}

// One problem: C[m x n] = A[m x k] * B[k x n], or += when accumulate is set.
// C is row-major with leading dimension ldc. With k == 0, C is zeroed
// (or left as it is when accumulating).
struct GemmProblem {
  int64_t m = 0, n = 0, k = 0;
  MatrixView a, b;
  float* c = nullptr;
  int64_t ldc = 0;
  bool accumulate = false;
};

// Called once for each block of C after the block holds its final values,
// while it is still in cache. Blocks tile each problem's C exactly once.
// col0 is a multiple of gemm_col_block(n), so it is even, which keeps the
// interleaved gate/up pairs of SwiGLU inside one block.
using GemmEpilogue =
    std::function<void(int64_t problem, int64_t row0, int64_t rows, int64_t col0, int64_t cols)>;

// Runs every problem. Threads take (problem, row block, column block) work
// items from a static schedule. Each element of C is reduced by one thread in
// an order that does not depend on the thread count, so results are bitwise
// identical for any number of threads. The epilogue, when given,
// runs on the thread that computed the block.
void gemm_grouped(const GemmProblem* problems, int64_t count, const GemmEpilogue& epilogue = nullptr);

// A single problem, run with the same threads and schedule.
void gemm(const GemmProblem& problem, const GemmEpilogue& epilogue = nullptr);

// Rows in one row block (the M tile): token rounding uses this as its tile.
// It is 64, a multiple of the micro-kernel rows of every instruction set.
// Epilogue blocks have at most this many rows. When a call has fewer than
// four row-by-column blocks per thread, gemm_grouped splits the rows into
// smaller blocks (multiples of the micro-kernel rows) so every thread gets
// work.
int64_t gemm_row_block();

// Columns in one column block for a problem with n columns. It is 128
// rounded up to a multiple of the micro-kernel width (128 with AVX-512, 144
// with AVX2, 132 on the portable path), or n rounded up to even when that is
// smaller. It is always even and depends only on n.
int64_t gemm_col_block(int64_t n);

// The plain loop implementation: the same contract and block schedule as
// gemm_grouped (always full gemm_row_block() rows), without packing or
// SIMD. Tests and benchmarks use it as the baseline.
void gemm_grouped_reference(const GemmProblem* problems, int64_t count, const GemmEpilogue& epilogue = nullptr);

// The micro-kernel instruction set this build uses: "avx512", "avx2" or
// "portable".
const char* gemm_simd_name();

}  // namespace snax
