// A plain implementation of the GEMM engine interface in gemm.h.
//
// NOTE: this version is correct but not fast: it has no packing and no SIMD
// micro-kernel. It keeps the documented schedule (work items of one row
// block by one column block, each reduced by one thread in fixed order).
#include "cpu/gemm.h"

#include <omp.h>

#include <algorithm>
#include <vector>

#include "cpu/common.h"

namespace snax {

namespace {

constexpr int64_t kRowBlock = 64;
constexpr int64_t kMaxColBlock = 256;

inline float element(const MatrixView& view, int64_t i, int64_t j) {
  int64_t row = view.row_index ? view.row_index[i] : i;
  int64_t col = view.col_index ? view.col_index[j] : j;
  return view.data[row * view.row_stride + col * view.col_stride];
}

struct WorkItem {
  int64_t problem, row0, col0;
};

void run_block(const GemmProblem& p, int64_t row0, int64_t rows, int64_t col0, int64_t cols) {
  for (int64_t i = row0; i < row0 + rows; ++i) {
    float* c_row = p.c + i * p.ldc;
    for (int64_t j = col0; j < col0 + cols; ++j) {
      float sum = 0.0f;
      for (int64_t q = 0; q < p.k; ++q) sum += element(p.a, i, q) * element(p.b, q, j);
      c_row[j] = p.accumulate ? c_row[j] + sum : sum;
    }
  }
}

}  // namespace

int64_t gemm_row_block() { return kRowBlock; }

int64_t gemm_col_block(int64_t n) {
  int64_t even_n = (n + 1) / 2 * 2;
  return std::max<int64_t>(2, std::min(kMaxColBlock, even_n));
}

void gemm_grouped(const GemmProblem* problems, int64_t count, const GemmEpilogue& epilogue) {
  std::vector<WorkItem> items;
  for (int64_t p = 0; p < count; ++p) {
    const GemmProblem& problem = problems[p];
    SNAX_CHECK(problem.m >= 0 && problem.n >= 0 && problem.k >= 0, "INVALID_ARGUMENT",
               "gemm: negative size m=" << problem.m << " n=" << problem.n << " k=" << problem.k);
    int64_t col_block = gemm_col_block(problem.n);
    for (int64_t row0 = 0; row0 < problem.m; row0 += kRowBlock)
      for (int64_t col0 = 0; col0 < problem.n; col0 += col_block) items.push_back({p, row0, col0});
  }
  const int64_t item_count = static_cast<int64_t>(items.size());
  const int threads = static_cast<int>(std::min<int64_t>(num_threads(), std::max<int64_t>(item_count, 1)));

  auto run_item = [&](int64_t index) {
    const WorkItem& item = items[index];
    const GemmProblem& problem = problems[item.problem];
    int64_t rows = std::min(kRowBlock, problem.m - item.row0);
    int64_t cols = std::min(gemm_col_block(problem.n), problem.n - item.col0);
    run_block(problem, item.row0, rows, item.col0, cols);
    if (epilogue) epilogue(item.problem, item.row0, rows, item.col0, cols);
  };

  if (threads <= 1) {
    for (int64_t index = 0; index < item_count; ++index) run_item(index);
    return;
  }
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t index = 0; index < item_count; ++index) run_item(index);
}

void gemm(const GemmProblem& problem, const GemmEpilogue& epilogue) { gemm_grouped(&problem, 1, epilogue); }

}  // namespace snax
