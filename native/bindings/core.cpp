// Bindings for engine-wide functions: threads, tile size, a plain GEMM and
// gemmViews, which runs grouped GEMMs on strided and gathered views so that
// tests and benchmarks can reach every path of the engine.
#include <napi.h>

#include <algorithm>
#include <mutex>
#include <string>
#include <vector>

#include "bindings/napi_util.h"
#include "cpu/common.h"
#include "cpu/gemm.h"

namespace snax_napi {

namespace {

Napi::Value num_threads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), snax::num_threads());
}

Napi::Value set_num_threads(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    snax::set_num_threads(static_cast<int>(integer(info, 0, "threads")));
    return info.Env().Undefined();
  });
}

Napi::Value tile_size(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(snax::gemm_row_block()));
}

Napi::Value col_block(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(snax::gemm_col_block(integer(info, 0, "n"))));
}

Napi::Value simd_name(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), snax::gemm_simd_name());
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

// ---------------------------------------------------------------- gemmViews

// Field accessors for the plain objects that gemmViews receives.
Napi::Value field(Napi::Object object, const char* name, const std::string& where) {
  if (!object.Has(name)) throw_js(object.Env(), "INVALID_ARGUMENT", where + "." + name + " is missing");
  return object.Get(name);
}

float* float_field(Napi::Object object, const char* name, const std::string& where, int64_t* size) {
  Napi::Value value = field(object, name, where);
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    throw_js(object.Env(), "INVALID_DTYPE", where + "." + name + " must be a Float32Array");
  Napi::Float32Array array = value.As<Napi::Float32Array>();
  *size = static_cast<int64_t>(array.ElementLength());
  return array.Data();
}

int64_t integer_field(Napi::Object object, const char* name, const std::string& where) {
  Napi::Value value = field(object, name, where);
  if (!value.IsNumber()) throw_js(object.Env(), "INVALID_ARGUMENT", where + "." + name + " must be a number");
  return value.As<Napi::Number>().Int64Value();
}

// Reads an optional Int32Array index of exactly `length` non-negative
// entries. Stores the largest entry (or length - 1 without an index) in max_entry.
const int32_t* index_field(Napi::Object object, const char* name, const std::string& where, int64_t length,
                           int64_t* max_entry) {
  *max_entry = length - 1;
  if (!object.Has(name) || object.Get(name).IsUndefined() || object.Get(name).IsNull()) return nullptr;
  Napi::Value value = object.Get(name);
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    throw_js(object.Env(), "INVALID_DTYPE", where + "." + name + " must be an Int32Array");
  Napi::Int32Array array = value.As<Napi::Int32Array>();
  if (static_cast<int64_t>(array.ElementLength()) != length)
    throw_js(object.Env(), "SHAPE_MISMATCH",
             where + "." + name + " has " + std::to_string(array.ElementLength()) + " entries, expected " +
                 std::to_string(length));
  const int32_t* entries = array.Data();
  int64_t largest = -1;
  for (int64_t i = 0; i < length; ++i) {
    if (entries[i] < 0)
      throw_js(object.Env(), "INVALID_ARGUMENT",
               where + "." + name + "[" + std::to_string(i) + "] is " + std::to_string(entries[i]) + ", expected >= 0");
    largest = std::max<int64_t>(largest, entries[i]);
  }
  *max_entry = largest;
  return entries;
}

// Reads a view {data, leading, transposed, rowIndex, colIndex} of a logical
// rows x cols matrix and checks that every element it reaches is in bounds.
snax::MatrixView view_field(Napi::Object problem, const char* name, const std::string& where, int64_t rows,
                            int64_t cols) {
  std::string path = where + "." + name;
  Napi::Value value = field(problem, name, where);
  if (!value.IsObject()) throw_js(problem.Env(), "INVALID_ARGUMENT", path + " must be an object");
  Napi::Object object = value.As<Napi::Object>();
  int64_t size = 0;
  snax::MatrixView view;
  view.data = float_field(object, "data", path, &size);
  int64_t leading = integer_field(object, "leading", path);
  bool transposed = object.Has("transposed") && object.Get("transposed").ToBoolean().Value();
  int64_t max_row = 0, max_col = 0;
  view.row_index = index_field(object, "rowIndex", path, rows, &max_row);
  view.col_index = index_field(object, "colIndex", path, cols, &max_col);
  view.row_stride = transposed ? 1 : leading;
  view.col_stride = transposed ? leading : 1;
  if (rows == 0 || cols == 0) return view;
  int64_t inner = transposed ? max_row : max_col;
  if (leading < 1 || inner >= leading)
    throw_js(problem.Env(), "SHAPE_MISMATCH",
             path + ".leading is " + std::to_string(leading) + ", expected more than " + std::to_string(inner));
  int64_t last = max_row * view.row_stride + max_col * view.col_stride;
  if (last >= size)
    throw_js(problem.Env(), "SHAPE_MISMATCH",
             path + ".data has " + std::to_string(size) + " elements, the view reaches element " + std::to_string(last));
  return view;
}

// gemmViews(problems, reference, recordEpilogue, epilogueErrorAt): runs every
// problem as one grouped call (the plain reference when `reference` is set).
// With recordEpilogue it returns a Float64Array of 6 numbers per epilogue
// call: problem, row0, rows, col0, cols and the sum of the block's values as
// the epilogue saw them. With epilogueErrorAt >= 0, the epilogue call of
// that number (counted from 0 across threads) throws, so tests can check
// that an epilogue error reaches the caller.
Napi::Value gemm_views(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsArray()) throw_js(env, "INVALID_ARGUMENT", "problems must be an array");
    Napi::Array list = info[0].As<Napi::Array>();
    bool reference = info.Length() > 1 && info[1].ToBoolean().Value();
    bool record = info.Length() > 2 && info[2].ToBoolean().Value();
    int64_t error_at = info.Length() > 3 && info[3].IsNumber() ? info[3].As<Napi::Number>().Int64Value() : -1;

    std::vector<snax::GemmProblem> problems(list.Length());
    for (uint32_t p = 0; p < list.Length(); ++p) {
      std::string where = "problems[" + std::to_string(p) + "]";
      if (!list.Get(p).IsObject()) throw_js(env, "INVALID_ARGUMENT", where + " must be an object");
      Napi::Object object = list.Get(p).As<Napi::Object>();
      snax::GemmProblem& problem = problems[p];
      problem.m = integer_field(object, "m", where);
      problem.n = integer_field(object, "n", where);
      problem.k = integer_field(object, "k", where);
      if (problem.m < 0 || problem.n < 0 || problem.k < 0)
        throw_js(env, "INVALID_ARGUMENT", where + ": m, n and k must be non-negative");
      problem.ldc = integer_field(object, "ldc", where);
      problem.accumulate = object.Has("accumulate") && object.Get("accumulate").ToBoolean().Value();
      int64_t c_size = 0;
      problem.c = float_field(object, "c", where, &c_size);
      if (problem.m > 0 && problem.n > 0 && (problem.ldc < problem.n || (problem.m - 1) * problem.ldc + problem.n > c_size))
        throw_js(env, "SHAPE_MISMATCH",
                 where + ".c has " + std::to_string(c_size) + " elements, too few for m=" + std::to_string(problem.m) +
                     " rows of ldc=" + std::to_string(problem.ldc) + " with n=" + std::to_string(problem.n));
      problem.a = view_field(object, "a", where, problem.m, problem.k);
      problem.b = view_field(object, "b", where, problem.k, problem.n);
    }

    std::mutex record_mutex;
    std::vector<double> records;
    int64_t calls = 0;
    snax::GemmEpilogue epilogue = nullptr;
    if (record || error_at >= 0) {
      epilogue = [&](int64_t p, int64_t row0, int64_t rows, int64_t col0, int64_t cols) {
        {
          std::lock_guard<std::mutex> lock(record_mutex);
          SNAX_CHECK(calls++ != error_at, "EPILOGUE_FAILED",
                     "epilogue call " << error_at << " failed on request (problem " << p << ", block " << row0 << ","
                                      << col0 << ")");
        }
        if (!record) return;
        const snax::GemmProblem& problem = problems[p];
        double sum = 0.0;
        for (int64_t i = row0; i < row0 + rows; ++i)
          for (int64_t j = col0; j < col0 + cols; ++j) sum += problem.c[i * problem.ldc + j];
        std::lock_guard<std::mutex> lock(record_mutex);
        records.insert(records.end(), {static_cast<double>(p), static_cast<double>(row0), static_cast<double>(rows),
                                       static_cast<double>(col0), static_cast<double>(cols), sum});
      };
    }
    const int64_t count = static_cast<int64_t>(problems.size());
    if (reference)
      snax::gemm_grouped_reference(problems.data(), count, epilogue);
    else
      snax::gemm_grouped(problems.data(), count, epilogue);
    if (!record) return env.Undefined();
    Napi::Float64Array out = Napi::Float64Array::New(env, records.size());
    std::copy(records.begin(), records.end(), out.Data());
    return out;
  });
}

}  // namespace

void register_core(Napi::Env env, Napi::Object exports) {
  exports.Set("numThreads", Napi::Function::New(env, num_threads));
  exports.Set("setNumThreads", Napi::Function::New(env, set_num_threads));
  exports.Set("tileSize", Napi::Function::New(env, tile_size));
  exports.Set("colBlock", Napi::Function::New(env, col_block));
  exports.Set("simdName", Napi::Function::New(env, simd_name));
  exports.Set("gemm", Napi::Function::New(env, gemm));
  exports.Set("gemmViews", Napi::Function::New(env, gemm_views));
}

}  // namespace snax_napi
