// Helpers shared by the binding files: argument unpacking and the
// translation of snax::Error into a JavaScript error with a `code`.
//
// The TypeScript face checks shapes and dtypes before calling in, so these
// checks are a second line of defence that keeps a bad call from crashing.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>

#include "cpu/common.h"

namespace snax_napi {

// Throws a JavaScript Error whose `code` property is `code`.
[[noreturn]] inline void throw_js(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  throw error;
}

// Runs body and converts snax::Error and std::exception into JS errors.
template <typename Body>
auto guarded(Napi::Env env, Body&& body) -> decltype(body()) {
  try {
    return body();
  } catch (const Napi::Error&) {
    throw;
  } catch (const snax::Error& error) {
    throw_js(env, error.code, error.what());
  } catch (const std::bad_alloc&) {
    throw_js(env, "OUT_OF_MEMORY", "native allocation failed");
  } catch (const std::exception& error) {
    throw_js(env, "NATIVE_ERROR", error.what());
  }
}

// A Float32Array argument: its data pointer and element count.
struct FloatArg {
  float* data;
  int64_t size;
};

inline FloatArg float_array(const Napi::CallbackInfo& info, size_t index, const char* name) {
  Napi::Env env = info.Env();
  if (index >= info.Length() || !info[index].IsTypedArray() ||
      info[index].As<Napi::TypedArray>().TypedArrayType() != napi_float32_array) {
    throw_js(env, "INVALID_DTYPE", std::string(name) + " must be a Float32Array");
  }
  Napi::Float32Array array = info[index].As<Napi::Float32Array>();
  return {array.Data(), static_cast<int64_t>(array.ElementLength())};
}

inline int32_t* int32_array(const Napi::CallbackInfo& info, size_t index, const char* name, int64_t* size) {
  Napi::Env env = info.Env();
  if (index >= info.Length() || !info[index].IsTypedArray() ||
      info[index].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array) {
    throw_js(env, "INVALID_DTYPE", std::string(name) + " must be an Int32Array");
  }
  Napi::Int32Array array = info[index].As<Napi::Int32Array>();
  *size = static_cast<int64_t>(array.ElementLength());
  return array.Data();
}

inline int64_t integer(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (index >= info.Length() || !info[index].IsNumber()) {
    throw_js(info.Env(), "INVALID_ARGUMENT", std::string(name) + " must be a number");
  }
  return info[index].As<Napi::Number>().Int64Value();
}

inline double number(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (index >= info.Length() || !info[index].IsNumber()) {
    throw_js(info.Env(), "INVALID_ARGUMENT", std::string(name) + " must be a number");
  }
  return info[index].As<Napi::Number>().DoubleValue();
}

// Throws SHAPE_MISMATCH unless the array has exactly `expected` elements.
inline void expect_size(Napi::Env env, const FloatArg& arg, int64_t expected, const char* name) {
  if (arg.size != expected) {
    throw_js(env, "SHAPE_MISMATCH",
             std::string(name) + " has " + std::to_string(arg.size) + " elements, expected " + std::to_string(expected));
  }
}

}  // namespace snax_napi
