// Micro-kernels and operand packing for the GEMM engine in gemm.cpp.
//
// The instruction set is fixed at compile time:
//   AVX-512F        MR = 8 rows by NR = 32 columns (2 zmm per row, 16 accumulators)
//   AVX2 with FMA   MR = 4 rows by NR = 24 columns (3 ymm per row, 12 accumulators)
//   portable        MR = 4 rows by NR = 12 columns (GCC vector extensions, 16 bytes)
//
// Packed layouts (every panel covers the full reduction length k):
//   A panel: MR rows of A, stored k-major: panel[q * MR + r] = A(row0 + r, q)
//   B panel: NR columns of B, stored k-major: panel[q * NR + j] = B(q, col0 + j)
// Rows or columns past the edge of the matrix are packed as zeros, so the
// micro-kernel always computes a full MR x NR tile and an edge tile is summed
// in exactly the same order as an interior one.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__AVX512F__) || defined(__AVX2__) || defined(__AVX__)
#include <immintrin.h>
#endif

#include "cpu/gemm.h"

namespace snax::gemm_detail {

// ---------------------------------------------------------------- vectors

#if defined(__AVX512F__)
constexpr int kVecWidth = 16;
constexpr int kMR = 8;
constexpr int kVecsPerRow = 2;
using Vec = __m512;
inline Vec vec_load(const float* p) { return _mm512_loadu_ps(p); }
inline void vec_store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
inline Vec vec_zero() { return _mm512_setzero_ps(); }
inline Vec vec_broadcast(float x) { return _mm512_set1_ps(x); }
inline Vec vec_fma(Vec a, Vec b, Vec c) { return _mm512_fmadd_ps(a, b, c); }
constexpr const char* kSimdName = "avx512";
#elif defined(__AVX2__) && defined(__FMA__)
constexpr int kVecWidth = 8;
constexpr int kMR = 4;
constexpr int kVecsPerRow = 3;
using Vec = __m256;
inline Vec vec_load(const float* p) { return _mm256_loadu_ps(p); }
inline void vec_store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
inline Vec vec_zero() { return _mm256_setzero_ps(); }
inline Vec vec_broadcast(float x) { return _mm256_set1_ps(x); }
inline Vec vec_fma(Vec a, Vec b, Vec c) { return _mm256_fmadd_ps(a, b, c); }
constexpr const char* kSimdName = "avx2";
#else
constexpr int kVecWidth = 4;
constexpr int kMR = 4;
constexpr int kVecsPerRow = 3;
typedef float Vec __attribute__((vector_size(16)));
inline Vec vec_load(const float* p) {
  Vec v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
inline void vec_store(float* p, Vec v) { std::memcpy(p, &v, sizeof(v)); }
inline Vec vec_zero() { return Vec{0.0f, 0.0f, 0.0f, 0.0f}; }
inline Vec vec_broadcast(float x) { return Vec{x, x, x, x}; }
// Without an FMA instruction this is a multiply and an add; either way every
// tile of one build uses the same operation.
inline Vec vec_fma(Vec a, Vec b, Vec c) { return a * b + c; }
constexpr const char* kSimdName = "portable";
#endif

constexpr int kNR = kVecWidth * kVecsPerRow;

// ---------------------------------------------------------------- micro-kernel

// Computes one MR x NR tile over kc reduction steps:
// c = (load_c ? c : 0) + sum over q of a_panel(:, q) * b_panel(q, :), summed in
// increasing q. a and b point into packed panels with strides MR and NR.
// c is row-major with leading dimension ldc and must hold a full MR x NR tile.
inline void micro_kernel(int64_t kc, const float* __restrict a, const float* __restrict b, float* c, int64_t ldc,
                         bool load_c) {
  Vec acc[kMR][kVecsPerRow];
#pragma GCC unroll 8
  for (int r = 0; r < kMR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kVecsPerRow; ++v) acc[r][v] = load_c ? vec_load(c + r * ldc + v * kVecWidth) : vec_zero();

  for (int64_t q = 0; q < kc; ++q) {
    Vec bq[kVecsPerRow];
#pragma GCC unroll 4
    for (int v = 0; v < kVecsPerRow; ++v) bq[v] = vec_load(b + v * kVecWidth);
#pragma GCC unroll 8
    for (int r = 0; r < kMR; ++r) {
      Vec ar = vec_broadcast(a[r]);
#pragma GCC unroll 4
      for (int v = 0; v < kVecsPerRow; ++v) acc[r][v] = vec_fma(ar, bq[v], acc[r][v]);
    }
    a += kMR;
    b += kNR;
  }

#pragma GCC unroll 8
  for (int r = 0; r < kMR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < kVecsPerRow; ++v) vec_store(c + r * ldc + v * kVecWidth, acc[r][v]);
}

// ---------------------------------------------------------------- packing

#if defined(__AVX__)
// Transposes an 8 x 8 block: rows src[t] + 0..7 become columns of dst, whose
// rows are dst_stride floats apart.
inline void transpose_8x8(const float* const* src, int64_t offset, float* dst, int64_t dst_stride) {
  __m256 r0 = _mm256_loadu_ps(src[0] + offset), r1 = _mm256_loadu_ps(src[1] + offset);
  __m256 r2 = _mm256_loadu_ps(src[2] + offset), r3 = _mm256_loadu_ps(src[3] + offset);
  __m256 r4 = _mm256_loadu_ps(src[4] + offset), r5 = _mm256_loadu_ps(src[5] + offset);
  __m256 r6 = _mm256_loadu_ps(src[6] + offset), r7 = _mm256_loadu_ps(src[7] + offset);
  __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  __m256 s0 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s1 = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 s2 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s3 = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 s4 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s5 = _mm256_shuffle_ps(t4, t6, _MM_SHUFFLE(3, 2, 3, 2));
  __m256 s6 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(1, 0, 1, 0));
  __m256 s7 = _mm256_shuffle_ps(t5, t7, _MM_SHUFFLE(3, 2, 3, 2));
  _mm256_storeu_ps(dst + 0 * dst_stride, _mm256_permute2f128_ps(s0, s4, 0x20));
  _mm256_storeu_ps(dst + 1 * dst_stride, _mm256_permute2f128_ps(s1, s5, 0x20));
  _mm256_storeu_ps(dst + 2 * dst_stride, _mm256_permute2f128_ps(s2, s6, 0x20));
  _mm256_storeu_ps(dst + 3 * dst_stride, _mm256_permute2f128_ps(s3, s7, 0x20));
  _mm256_storeu_ps(dst + 4 * dst_stride, _mm256_permute2f128_ps(s0, s4, 0x31));
  _mm256_storeu_ps(dst + 5 * dst_stride, _mm256_permute2f128_ps(s1, s5, 0x31));
  _mm256_storeu_ps(dst + 6 * dst_stride, _mm256_permute2f128_ps(s2, s6, 0x31));
  _mm256_storeu_ps(dst + 7 * dst_stride, _mm256_permute2f128_ps(s3, s7, 0x31));
}
#endif

// Packs `count` streams that are contiguous along the reduction index:
// dst[q * width + j] = streams[j][q] for j < count, zero for count <= j < width.
inline void pack_streams(const float* const* streams, int count, int width, int64_t k, float* dst) {
  int64_t q = 0;
#if defined(__AVX__)
  if (count == width && width % 8 == 0) {
    // Eight streams at a time, each read front to back, so the hardware
    // prefetcher gets a few sequential streams instead of `width`.
    const int64_t k8 = k / 8 * 8;
    for (int j = 0; j < width; j += 8)
      for (int64_t q8 = 0; q8 < k8; q8 += 8) transpose_8x8(streams + j, q8, dst + q8 * width + j, width);
    q = k8;
  }
#endif
  for (; q < k; ++q) {
    float* out = dst + q * width;
    for (int j = 0; j < count; ++j) out[j] = streams[j][q];
    for (int j = count; j < width; ++j) out[j] = 0.0f;
  }
}

// Packs `count` values that are contiguous for each reduction index into
// panels of `width` columns: panel p (at dst + p * k * width) gets
// dst[q * width + j] = rows[q][p * width + j], zero past `count`. rows[q] is
// computed by row_at(q). Every source row is read once, front to back, and
// the width is a template argument so a full panel row compiles to a few
// vector moves.
template <int width, typename RowAt>
inline void pack_rows(RowAt row_at, int64_t count, int64_t k, float* dst) {
  const int64_t full_panels = count / width;
  const int tail = static_cast<int>(count % width);
  for (int64_t q = 0; q < k; ++q) {
    const float* src = row_at(q);
    for (int64_t p = 0; p < full_panels; ++p) {
      float* out = dst + p * k * width + q * width;
      const float* in = src + p * width;
#pragma GCC unroll 32
      for (int j = 0; j < width; ++j) out[j] = in[j];
    }
    if (tail > 0) {
      float* out = dst + full_panels * k * width + q * width;
      const float* in = src + full_panels * width;
      for (int j = 0; j < tail; ++j) out[j] = in[j];
      for (int j = tail; j < width; ++j) out[j] = 0.0f;
    }
  }
}

// Packs rows [row0, row0 + rows) of view A (rows <= MR) over the full k.
// It reads any view, but pack_a_block sends transposed views to pack_rows.
inline void pack_a_panel(const MatrixView& a, int64_t row0, int rows, int64_t k, float* dst) {
  if (a.col_stride == 1 && a.col_index == nullptr) {
    // Each row of A is contiguous along the reduction: transpose MR streams.
    const float* streams[kMR];
    for (int r = 0; r < rows; ++r) {
      int64_t row = a.row_index ? a.row_index[row0 + r] : row0 + r;
      streams[r] = a.data + row * a.row_stride;
    }
    pack_streams(streams, rows, kMR, k, dst);
    return;
  }
  int64_t row_offset[kMR];
  for (int r = 0; r < rows; ++r) row_offset[r] = (a.row_index ? a.row_index[row0 + r] : row0 + r) * a.row_stride;
  for (int64_t q = 0; q < k; ++q) {
    int64_t col_offset = (a.col_index ? a.col_index[q] : q) * a.col_stride;
    float* out = dst + q * kMR;
    for (int r = 0; r < rows; ++r) out[r] = a.data[row_offset[r] + col_offset];
    for (int r = rows; r < kMR; ++r) out[r] = 0.0f;
  }
}

// Packs columns [col0, col0 + cols) of view B (cols <= NR) over the full k.
// It reads any view, but pack_b_block sends row-major views to pack_rows.
inline void pack_b_panel(const MatrixView& b, int64_t col0, int cols, int64_t k, float* dst) {
  if (b.row_stride == 1 && b.row_index == nullptr) {
    // Transposed B: each column is contiguous along the reduction.
    const float* streams[kNR];
    for (int j = 0; j < cols; ++j) {
      int64_t col = b.col_index ? b.col_index[col0 + j] : col0 + j;
      streams[j] = b.data + col * b.col_stride;
    }
    pack_streams(streams, cols, kNR, k, dst);
    return;
  }
  int64_t col_offset[kNR];
  for (int j = 0; j < cols; ++j) col_offset[j] = (b.col_index ? b.col_index[col0 + j] : col0 + j) * b.col_stride;
  for (int64_t q = 0; q < k; ++q) {
    int64_t row_offset = (b.row_index ? b.row_index[q] : q) * b.row_stride;
    float* out = dst + q * kNR;
    for (int j = 0; j < cols; ++j) out[j] = b.data[row_offset + col_offset[j]];
    for (int j = cols; j < kNR; ++j) out[j] = 0.0f;
  }
}

// Packs rows [row0, row0 + rows) of view A into MR-row panels over the full k
// (panel p at dst + p * k * MR).
inline void pack_a_block(const MatrixView& a, int64_t row0, int64_t rows, int64_t k, float* dst) {
  if (a.row_stride == 1 && a.row_index == nullptr && !(a.col_stride == 1 && a.col_index == nullptr)) {
    // Transposed A: the rows of one reduction step are contiguous.
    pack_rows<kMR>(
        [&](int64_t q) {
          int64_t col = a.col_index ? a.col_index[q] : q;
          return a.data + col * a.col_stride + row0;
        },
        rows, k, dst);
    return;
  }
  for (int64_t i = 0; i < rows; i += kMR)
    pack_a_panel(a, row0 + i, static_cast<int>(rows - i < kMR ? rows - i : kMR), k, dst + (i / kMR) * k * kMR);
}

// Packs columns [col0, col0 + cols) of view B into NR-column panels over the
// full k (panel p at dst + p * k * NR).
inline void pack_b_block(const MatrixView& b, int64_t col0, int64_t cols, int64_t k, float* dst) {
  if (b.col_stride == 1 && b.col_index == nullptr) {
    // Row-major B: the columns of one reduction step are contiguous.
    pack_rows<kNR>(
        [&](int64_t q) {
          int64_t row = b.row_index ? b.row_index[q] : q;
          return b.data + row * b.row_stride + col0;
        },
        cols, k, dst);
    return;
  }
  for (int64_t j = 0; j < cols; j += kNR)
    pack_b_panel(b, col0 + j, static_cast<int>(cols - j < kNR ? cols - j : kNR), k, dst + (j / kNR) * k * kNR);
}

}  // namespace snax::gemm_detail
