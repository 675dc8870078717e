// Bindings for engine-wide functions: threads, tile size and a plain GEMM.
#include <napi.h>

#include "bindings/napi_util.h"
#include "cpu/common.h"
#include "cpu/gemm.h"

namespace snax_napi {

namespace {

Napi::Value num_threads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), snax::num_threads());
}

Napi::Value set_num_threads(const Napi::CallbackInfo& info) {
  snax::set_num_threads(static_cast<int>(integer(info, 0, "threads")));
  return info.Env().Undefined();
}

Napi::Value tile_size(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(snax::gemm_row_block()));
}

Napi::Value simd_name(const Napi::CallbackInfo& info) {
#if defined(__AVX512F__)
  const char* name = "avx512";
#elif defined(__AVX2__)
  const char* name = "avx2";
#else
  const char* name = "portable";
#endif
  return Napi::String::New(info.Env(), name);
}

// gemm(c_MN, a_MK, b_KN, m, n, k, accumulate): all row-major.
Napi::Value gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    FloatArg c = float_array(info, 0, "c");
    FloatArg a = float_array(info, 1, "a");
    FloatArg b = float_array(info, 2, "b");
    int64_t m = integer(info, 3, "m"), n = integer(info, 4, "n"), k = integer(info, 5, "k");
    bool accumulate = info.Length() > 6 && info[6].ToBoolean().Value();
    expect_size(env, c, m * n, "c");
    expect_size(env, a, m * k, "a");
    expect_size(env, b, k * n, "b");
    snax::GemmProblem problem;
    problem.m = m;
    problem.n = n;
    problem.k = k;
    problem.a = snax::row_major(a.data, k);
    problem.b = snax::row_major(b.data, n);
    problem.c = c.data;
    problem.ldc = n;
    problem.accumulate = accumulate;
    snax::gemm(problem);
    return env.Undefined();
  });
}

}  // namespace

void register_core(Napi::Env env, Napi::Object exports) {
  exports.Set("numThreads", Napi::Function::New(env, num_threads));
  exports.Set("setNumThreads", Napi::Function::New(env, set_num_threads));
  exports.Set("tileSize", Napi::Function::New(env, tile_size));
  exports.Set("simdName", Napi::Function::New(env, simd_name));
  exports.Set("gemm", Napi::Function::New(env, gemm));
}

}  // namespace snax_napi
