// The GEMM engine of gemm.h: packed, cache-blocked, with SIMD micro-kernels
// (gemm_kernels.h), and the plain loop implementation kept as a reference.
//
// Shapes: each problem computes C[m x n] (= or +=) A[m x k] * B[k x n].
//
// Blocking. A work item is one (problem, row block, column block) of C. Its
// thread packs the item's A rows and B columns over the full k, applying the
// index gathers while packing. It then walks the reduction in chunks of kKC.
// In each chunk every B panel (kKC x NR, kept in L1) meets every A panel
// (MR x kKC, kept in L2). Each thread keeps its packed A row block and up to
// 16 MiB of packed B column blocks, so a thread packs each operand block
// once when the B blocks of a problem fit (see list_items for the order).
//
// Threads. A static schedule splits the items into one contiguous range per
// thread of about equal estimated cost. The epilogue of an item runs right
// after it, on the same thread.
//
// Determinism. Every element of C is computed by one thread as one chain of
// fused multiply-adds in increasing q, started from 0 (or from C when
// accumulating) and stored between reduction chunks without rounding. The
// chain does not depend on the thread count or on where the tile falls.
#include "cpu/gemm.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <vector>

#include "cpu/common.h"
#include "cpu/gemm_kernels.h"

namespace snax {

namespace {

using gemm_detail::kMR;
using gemm_detail::kNR;

constexpr int64_t kRowBlock = 64;
static_assert(kRowBlock % kMR == 0, "the row block must be a multiple of the micro-kernel rows");

// Target width of a column block; gemm_col_block rounds it up to a multiple of NR.
constexpr int64_t kColBlockTarget = 128;

// Reduction steps per chunk: a B panel of kKC x NR floats stays in L1.
constexpr int64_t kKC = 256;

// Floats of packed B that one thread keeps between items: 16 MiB.
constexpr int64_t kPackedBBudget = int64_t{4} << 20;

// Below this many multiply-adds in total, the call runs on the calling
// thread without entering OpenMP.
constexpr double kSerialWork = 1 << 18;

int64_t round_up(int64_t value, int64_t multiple) { return (value + multiple - 1) / multiple * multiple; }

// ---------------------------------------------------------------- workspace

// A 64-byte aligned float buffer that only grows.
class AlignedBuffer {
 public:
  AlignedBuffer() = default;
  AlignedBuffer(const AlignedBuffer&) = delete;
  AlignedBuffer& operator=(const AlignedBuffer&) = delete;
  ~AlignedBuffer() { std::free(data_); }

  void reserve(int64_t floats) {
    if (floats <= capacity_) return;
    size_t bytes = static_cast<size_t>(round_up(floats * 4, 64));
    void* fresh = std::aligned_alloc(64, bytes);
    if (fresh == nullptr) throw std::bad_alloc();
    std::free(data_);
    data_ = static_cast<float*>(fresh);
    capacity_ = floats;
  }
  float* data() const { return data_; }

 private:
  float* data_ = nullptr;
  int64_t capacity_ = 0;
};

// One thread's packed operands: the A panels of one row block, and up to
// `slots` packed column blocks of B, each tagged with the (problem, col0)
// it holds.
struct ThreadPacks {
  AlignedBuffer a, b;
  std::vector<int64_t> b_problem, b_col0;
};

// Packing buffers for each thread of one call.
struct Workspace {
  std::vector<std::unique_ptr<ThreadPacks>> threads;
};

// Workspaces are pooled so that repeated calls reuse warm, already-mapped
// memory; each concurrent call takes its own.
// NOTE: pooled buffers are never freed, so a process keeps up to about
// 16 MiB of packed B plus 64 x max(k) floats of packed A per thread of its
// largest concurrent call.
std::mutex pool_mutex;
std::vector<std::unique_ptr<Workspace>> pool;

std::unique_ptr<Workspace> acquire_workspace() {
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (pool.empty()) return std::make_unique<Workspace>();
  std::unique_ptr<Workspace> workspace = std::move(pool.back());
  pool.pop_back();
  return workspace;
}

void release_workspace(std::unique_ptr<Workspace> workspace) {
  std::lock_guard<std::mutex> lock(pool_mutex);
  pool.push_back(std::move(workspace));
}

// ---------------------------------------------------------------- items

struct WorkItem {
  int64_t problem, row0, rows, col0, cols;
};

void check_problem(const GemmProblem& p, int64_t index) {
  SNAX_CHECK(p.m >= 0 && p.n >= 0 && p.k >= 0, "INVALID_ARGUMENT",
             "gemm problem " << index << ": sizes must be non-negative, got m=" << p.m << " n=" << p.n << " k=" << p.k);
  if (p.m == 0 || p.n == 0) return;
  SNAX_CHECK(p.c != nullptr, "INVALID_ARGUMENT", "gemm problem " << index << ": c is null");
  SNAX_CHECK(p.m == 1 || p.ldc >= p.n, "INVALID_ARGUMENT",
             "gemm problem " << index << ": ldc=" << p.ldc << " must be at least n=" << p.n);
  if (p.k == 0) return;
  SNAX_CHECK(p.a.data != nullptr && p.b.data != nullptr, "INVALID_ARGUMENT",
             "gemm problem " << index << ": operand a or b has no data");
}

// Lists the items with row blocks of row_step rows. When all column blocks
// of a problem fit in a thread's b_slots packed B blocks, its items go row
// block by row block, so each thread packs every A and B block once. A wider
// problem goes column block by column block, so consecutive items reuse the
// packed B and repack A.
std::vector<WorkItem> list_items(const GemmProblem* problems, int64_t count, int64_t row_step, int64_t b_slots) {
  std::vector<WorkItem> items;
  for (int64_t p = 0; p < count; ++p) {
    const GemmProblem& problem = problems[p];
    if (problem.m == 0 || problem.n == 0) continue;
    const int64_t col_block = gemm_col_block(problem.n);
    auto add = [&](int64_t row0, int64_t col0) {
      items.push_back({p, row0, std::min(row_step, problem.m - row0), col0, std::min(col_block, problem.n - col0)});
    };
    if ((problem.n + col_block - 1) / col_block <= b_slots) {
      for (int64_t row0 = 0; row0 < problem.m; row0 += row_step)
        for (int64_t col0 = 0; col0 < problem.n; col0 += col_block) add(row0, col0);
    } else {
      for (int64_t col0 = 0; col0 < problem.n; col0 += col_block)
        for (int64_t row0 = 0; row0 < problem.m; row0 += row_step) add(row0, col0);
    }
  }
  return items;
}

int64_t count_items(const GemmProblem* problems, int64_t count, int64_t row_step) {
  int64_t total = 0;
  for (int64_t p = 0; p < count; ++p) {
    if (problems[p].m == 0 || problems[p].n == 0) continue;
    int64_t col_blocks = (problems[p].n + gemm_col_block(problems[p].n) - 1) / gemm_col_block(problems[p].n);
    total += col_blocks * ((problems[p].m + row_step - 1) / row_step);
  }
  return total;
}

// Estimated cost of an item in multiply-adds, counting padding and a fixed
// per-item overhead so that k = 0 items are not free.
double item_cost(const GemmProblem& problem, const WorkItem& item) {
  return static_cast<double>(round_up(item.rows, kMR)) * static_cast<double>(round_up(item.cols, kNR)) *
         static_cast<double>(problem.k + 32);
}

// Splits items into `threads` contiguous ranges of about equal cost:
// thread t runs items [bounds[t], bounds[t + 1]).
std::vector<int64_t> split_by_cost(const GemmProblem* problems, const std::vector<WorkItem>& items, int threads) {
  const int64_t count = static_cast<int64_t>(items.size());
  std::vector<double> prefix(count + 1, 0.0);
  for (int64_t i = 0; i < count; ++i) prefix[i + 1] = prefix[i] + item_cost(problems[items[i].problem], items[i]);
  std::vector<int64_t> bounds(threads + 1, count);
  bounds[0] = 0;
  int64_t index = 0;
  for (int t = 1; t < threads; ++t) {
    double target = prefix[count] * t / threads;
    // The item whose middle lies past the target starts the next range.
    while (index < count && (prefix[index] + prefix[index + 1]) / 2 < target) ++index;
    bounds[t] = index;
  }
  return bounds;
}

// ---------------------------------------------------------------- compute

// Zeroes the item's block of C, or leaves it when accumulating (k == 0).
void clear_block(const GemmProblem& p, const WorkItem& item) {
  if (p.accumulate) return;
  for (int64_t i = item.row0; i < item.row0 + item.rows; ++i)
    std::fill(p.c + i * p.ldc + item.col0, p.c + i * p.ldc + item.col0 + item.cols, 0.0f);
}

// Computes one tile that sticks out of C through a full MR x NR scratch tile,
// so it runs the same kernel, in the same order, as an interior tile.
void edge_tile(int64_t kc, const float* a_panel, const float* b_panel, float* c, int64_t ldc, int rows, int cols,
               bool load_c) {
  alignas(64) float tile[kMR * kNR];
  if (load_c) {
    std::fill(tile, tile + kMR * kNR, 0.0f);
    for (int r = 0; r < rows; ++r) std::copy(c + r * ldc, c + r * ldc + cols, tile + r * kNR);
  }
  gemm_detail::micro_kernel(kc, a_panel, b_panel, tile, kNR, load_c);
  for (int r = 0; r < rows; ++r) std::copy(tile + r * kNR, tile + r * kNR + cols, c + r * ldc);
}

// Computes C for one item from the packed panels of its rows and columns.
void compute_block(const GemmProblem& p, const WorkItem& item, const float* a_pack, const float* b_pack) {
  const int64_t k = p.k;
  const int64_t a_panels = (item.rows + kMR - 1) / kMR;
  const int64_t b_panels = (item.cols + kNR - 1) / kNR;
  for (int64_t k0 = 0; k0 < k; k0 += kKC) {
    const int64_t kc = std::min(kKC, k - k0);
    const bool load_c = k0 > 0 || p.accumulate;
    for (int64_t jp = 0; jp < b_panels; ++jp) {
      const float* b_panel = b_pack + jp * k * kNR + k0 * kNR;
      const int cols = static_cast<int>(std::min<int64_t>(kNR, item.cols - jp * kNR));
      for (int64_t ip = 0; ip < a_panels; ++ip) {
        const float* a_panel = a_pack + ip * k * kMR + k0 * kMR;
        const int rows = static_cast<int>(std::min<int64_t>(kMR, item.rows - ip * kMR));
        float* c = p.c + (item.row0 + ip * kMR) * p.ldc + item.col0 + jp * kNR;
        if (rows == kMR && cols == kNR)
          gemm_detail::micro_kernel(kc, a_panel, b_panel, c, p.ldc, load_c);
        else
          edge_tile(kc, a_panel, b_panel, c, p.ldc, rows, cols, load_c);
      }
    }
  }
}

// Runs items [begin, end) in order on the calling thread, packing A and B
// only when the item needs panels that this thread has not packed yet.
// b_slot_floats is the size of one packed B slot.
void run_items(const GemmProblem* problems, const std::vector<WorkItem>& items, int64_t begin, int64_t end,
               ThreadPacks& packs, int64_t b_slot_floats, const GemmEpilogue& epilogue) {
  const int64_t b_slots = static_cast<int64_t>(packs.b_problem.size());
  std::fill(packs.b_problem.begin(), packs.b_problem.end(), -1);
  int64_t a_problem = -1, a_row0 = -1;
  for (int64_t index = begin; index < end; ++index) {
    const WorkItem& item = items[index];
    const GemmProblem& p = problems[item.problem];
    if (p.k == 0) {
      clear_block(p, item);
    } else {
      const int64_t slot = (item.col0 / gemm_col_block(p.n)) % b_slots;
      float* b_pack = packs.b.data() + slot * b_slot_floats;
      if (packs.b_problem[slot] != item.problem || packs.b_col0[slot] != item.col0) {
        gemm_detail::pack_b_block(p.b, item.col0, item.cols, p.k, b_pack);
        packs.b_problem[slot] = item.problem;
        packs.b_col0[slot] = item.col0;
      }
      if (item.problem != a_problem || item.row0 != a_row0) {
        gemm_detail::pack_a_block(p.a, item.row0, item.rows, p.k, packs.a.data());
        a_problem = item.problem;
        a_row0 = item.row0;
      }
      compute_block(p, item, packs.a.data(), b_pack);
    }
    if (epilogue) epilogue(item.problem, item.row0, item.rows, item.col0, item.cols);
  }
}

}  // namespace

int64_t gemm_row_block() { return kRowBlock; }

int64_t gemm_col_block(int64_t n) {
  const int64_t full = round_up(kColBlockTarget, kNR);  // even, since NR is a multiple of 4
  const int64_t even_n = (n + 1) / 2 * 2;
  return std::max<int64_t>(2, std::min(full, even_n));
}

const char* gemm_simd_name() { return gemm_detail::kSimdName; }

void gemm_grouped(const GemmProblem* problems, int64_t count, const GemmEpilogue& epilogue) {
  SNAX_CHECK(count >= 0 && (count == 0 || problems != nullptr), "INVALID_ARGUMENT",
             "gemm_grouped: count=" << count << " needs that many problems");
  double work = 0.0;
  int64_t max_k = 0;
  for (int64_t p = 0; p < count; ++p) {
    check_problem(problems[p], p);
    work += static_cast<double>(problems[p].m) * static_cast<double>(problems[p].n) * static_cast<double>(problems[p].k);
    max_k = std::max(max_k, problems[p].k);
  }

  // With few items, smaller row blocks give every thread a share.
  const int max_threads = work < kSerialWork ? 1 : num_threads();
  int64_t row_step = kRowBlock;
  while (max_threads > 1 && row_step > kMR && count_items(problems, count, row_step) < int64_t{max_threads} * 4)
    row_step /= 2;
  // Each thread keeps as many packed column blocks of B as fit kPackedBBudget.
  const int64_t max_cols = round_up(kColBlockTarget, kNR);
  const int64_t b_slot_floats = std::max<int64_t>(1, max_cols * max_k);
  int64_t max_col_blocks = 1;
  for (int64_t p = 0; p < count; ++p)
    max_col_blocks = std::max(max_col_blocks, (problems[p].n + gemm_col_block(problems[p].n) - 1) /
                                                  std::max<int64_t>(1, gemm_col_block(problems[p].n)));
  const int64_t b_slots = std::max<int64_t>(1, std::min(max_col_blocks, kPackedBBudget / b_slot_floats));
  const std::vector<WorkItem> items = list_items(problems, count, row_step, b_slots);
  const int64_t item_count = static_cast<int64_t>(items.size());
  if (item_count == 0) return;
  const int threads = static_cast<int>(std::min<int64_t>(max_threads, item_count));
  const std::vector<int64_t> bounds = split_by_cost(problems, items, threads);

  // Every buffer is sized before any thread starts, so nothing allocates
  // (or throws bad_alloc) inside the parallel region.
  std::unique_ptr<Workspace> workspace = acquire_workspace();
  while (static_cast<int>(workspace->threads.size()) < threads)
    workspace->threads.push_back(std::make_unique<ThreadPacks>());
  for (int t = 0; t < threads; ++t) {
    ThreadPacks& packs = *workspace->threads[t];
    packs.a.reserve(std::max<int64_t>(1, round_up(kRowBlock, kMR) * max_k));
    packs.b.reserve(b_slots * b_slot_floats);
    packs.b_problem.resize(b_slots);
    packs.b_col0.resize(b_slots);
  }

  if (threads == 1) {
    try {
      run_items(problems, items, 0, item_count, *workspace->threads[0], b_slot_floats, epilogue);
    } catch (...) {
      release_workspace(std::move(workspace));
      throw;
    }
    release_workspace(std::move(workspace));
    return;
  }

  // An exception from the epilogue is caught on its thread, that thread
  // stops, and the first one is rethrown after the parallel region.
  // OpenMP may start fewer threads than requested (for example inside
  // another parallel region), so each thread of the team takes every
  // team-th range and all ranges still run.
  std::vector<std::exception_ptr> failures(threads);
#pragma omp parallel num_threads(threads)
  {
    const int team = omp_get_num_threads();
    for (int t = omp_get_thread_num(); t < threads; t += team) {
      try {
        run_items(problems, items, bounds[t], bounds[t + 1], *workspace->threads[t], b_slot_floats, epilogue);
      } catch (...) {
        failures[t] = std::current_exception();
      }
    }
  }
  release_workspace(std::move(workspace));
  for (const std::exception_ptr& failure : failures)
    if (failure) std::rethrow_exception(failure);
}

void gemm(const GemmProblem& problem, const GemmEpilogue& epilogue) { gemm_grouped(&problem, 1, epilogue); }

// ---------------------------------------------------------------- reference

namespace {

inline float element(const MatrixView& view, int64_t i, int64_t j) {
  int64_t row = view.row_index ? view.row_index[i] : i;
  int64_t col = view.col_index ? view.col_index[j] : j;
  return view.data[row * view.row_stride + col * view.col_stride];
}

void reference_block(const GemmProblem& p, int64_t row0, int64_t rows, int64_t col0, int64_t cols) {
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

void gemm_grouped_reference(const GemmProblem* problems, int64_t count, const GemmEpilogue& epilogue) {
  SNAX_CHECK(count >= 0 && (count == 0 || problems != nullptr), "INVALID_ARGUMENT",
             "gemm_grouped_reference: count=" << count << " needs that many problems");
  for (int64_t p = 0; p < count; ++p) check_problem(problems[p], p);
  std::vector<WorkItem> items = list_items(problems, count, kRowBlock, 1);
  const int64_t item_count = static_cast<int64_t>(items.size());
  const int threads = static_cast<int>(std::min<int64_t>(num_threads(), std::max<int64_t>(item_count, 1)));

  auto run_item = [&](int64_t index) {
    const WorkItem& item = items[index];
    reference_block(problems[item.problem], item.row0, item.rows, item.col0, item.cols);
    if (epilogue) epilogue(item.problem, item.row0, item.rows, item.col0, item.cols);
  };

  if (threads <= 1) {
    for (int64_t index = 0; index < item_count; ++index) run_item(index);
    return;
  }
  std::vector<std::exception_ptr> failures(item_count);
#pragma omp parallel for schedule(static) num_threads(threads)
  for (int64_t index = 0; index < item_count; ++index) {
    try {
      run_item(index);
    } catch (...) {
      failures[index] = std::current_exception();
    }
  }
  for (const std::exception_ptr& failure : failures)
    if (failure) std::rethrow_exception(failure);
}

}  // namespace snax
