// Bindings for the MoE layer: forward and backward, synchronous and as
// Napi::AsyncWorker promises, for the fused layer and the plain baseline.
//
// The TypeScript face (src/native/moe.ts) checks every shape, dtype and
// option first; the checks here keep a bad direct call from crashing.
// A context crosses to JavaScript as an External that owns the native
// MoeContext until backward consumes it or release() frees it.
#include <napi.h>

#include <memory>
#include <string>
#include <vector>

#include "bindings/napi_util.h"
#include "cpu/moe_layer.h"

namespace snax_napi {

namespace {

struct ContextHolder {
  std::unique_ptr<snax::MoeContext> context;
};

using ForwardFn = std::unique_ptr<snax::MoeContext> (*)(float*, snax::MoeForwardInfo*, const float*, const float*,
                                                        const float*, const float*, const snax::MoeConfig&);
using BackwardFn = void (*)(float*, float*, float*, float*, snax::MoeContext&, const float*, const float*,
                            const float*, const float*);

int64_t field_integer(Napi::Object object, const char* name) {
  Napi::Value value = object.Get(name);
  if (!value.IsNumber()) throw_js(object.Env(), "INVALID_ARGUMENT", std::string("options.") + name + " must be a number");
  return value.As<Napi::Number>().Int64Value();
}

double field_number(Napi::Object object, const char* name) {
  Napi::Value value = object.Get(name);
  if (!value.IsNumber()) throw_js(object.Env(), "INVALID_ARGUMENT", std::string("options.") + name + " must be a number");
  return value.As<Napi::Number>().DoubleValue();
}

// Options arrive with every field filled and enums as integers.
snax::MoeConfig read_config(const Napi::CallbackInfo& info, size_t index) {
  if (index >= info.Length() || !info[index].IsObject())
    throw_js(info.Env(), "INVALID_ARGUMENT", "options must be an object");
  Napi::Object object = info[index].As<Napi::Object>();
  snax::MoeConfig config;
  config.tokens = field_integer(object, "tokens");
  config.width = field_integer(object, "width");
  config.experts = field_integer(object, "experts");
  config.top_k = field_integer(object, "topK");
  config.expert_width = field_integer(object, "expertWidth");
  const int64_t gate = field_integer(object, "gate");
  const int64_t rounding = field_integer(object, "rounding");
  const int64_t strategy = field_integer(object, "strategy");
  if (gate < 0 || gate > 1 || rounding < 0 || rounding > 3 || strategy < 0 || strategy > 2)
    throw_js(info.Env(), "INVALID_ARGUMENT", "options.gate, rounding or strategy is out of range");
  config.gate = static_cast<snax::MoeGate>(gate);
  config.rounding = static_cast<snax::MoeRounding>(rounding);
  config.strategy = static_cast<snax::MoeStrategy>(strategy);
  config.tile = field_integer(object, "tile");
  config.balance_coef = field_number(object, "balanceLoss");
  config.z_coef = field_number(object, "zLoss");
  config.save_for_backward = object.Get("saveForBackward").ToBoolean().Value();
  return config;
}

// The arrays of one forward call, checked against the config.
struct ForwardArgs {
  FloatArg x, router, w1, w2, out;
  snax::MoeConfig config;
};

ForwardArgs read_forward_args(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  ForwardArgs args;
  args.x = float_array(info, 0, "x_TD");
  args.router = float_array(info, 1, "router_ED");
  args.w1 = float_array(info, 2, "w1_E2ND");
  args.w2 = float_array(info, 3, "w2_EDN");
  args.out = float_array(info, 4, "out_TD");
  args.config = read_config(info, 5);
  snax::validate_moe_config(args.config);
  const snax::MoeConfig& c = args.config;
  expect_size(env, args.x, c.tokens * c.width, "x_TD");
  expect_size(env, args.router, c.experts * c.width, "router_ED");
  expect_size(env, args.w1, c.experts * 2 * c.expert_width * c.width, "w1_E2ND");
  expect_size(env, args.w2, c.experts * c.width * c.expert_width, "w2_EDN");
  expect_size(env, args.out, c.tokens * c.width, "out_TD");
  return args;
}

// The arrays of one backward call, checked against the context's config.
struct BackwardArgs {
  FloatArg dout, router, w1, w2, dx, drouter, dw1, dw2;
};

ContextHolder* read_holder(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsExternal())
    throw_js(info.Env(), "INVALID_ARGUMENT", "context must be a handle returned by moeForward");
  return info[0].As<Napi::External<ContextHolder>>().Data();
}

BackwardArgs read_backward_args(const Napi::CallbackInfo& info, const snax::MoeConfig& c) {
  Napi::Env env = info.Env();
  BackwardArgs args;
  args.dout = float_array(info, 1, "dout_TD");
  args.router = float_array(info, 2, "router_ED");
  args.w1 = float_array(info, 3, "w1_E2ND");
  args.w2 = float_array(info, 4, "w2_EDN");
  args.dx = float_array(info, 5, "dx_TD");
  args.drouter = float_array(info, 6, "dRouter_ED");
  args.dw1 = float_array(info, 7, "dw1_E2ND");
  args.dw2 = float_array(info, 8, "dw2_EDN");
  const int64_t td = c.tokens * c.width, ed = c.experts * c.width, end = c.experts * c.expert_width * c.width;
  expect_size(env, args.dout, td, "dout_TD");
  expect_size(env, args.router, ed, "router_ED");
  expect_size(env, args.w1, 2 * end, "w1_E2ND");
  expect_size(env, args.w2, end, "w2_EDN");
  expect_size(env, args.dx, td, "dx_TD");
  expect_size(env, args.drouter, ed, "dRouter_ED");
  expect_size(env, args.dw1, 2 * end, "dw1_E2ND");
  expect_size(env, args.dw2, end, "dw2_EDN");
  return args;
}

std::unique_ptr<snax::MoeContext> take_context(Napi::Env env, ContextHolder* holder, bool baseline) {
  if (!holder->context)
    throw_js(env, "INVALID_ARGUMENT", "context was released or already used by a backward pass");
  if (holder->context->baseline != baseline)
    throw_js(env, "INVALID_ARGUMENT",
             baseline ? "context comes from moeForward; pass it to moeBackward"
                      : "context comes from moeBaselineForward; pass it to moeBaselineBackward");
  return std::move(holder->context);
}

Napi::Object forward_result(Napi::Env env, std::unique_ptr<snax::MoeContext> context,
                            const snax::MoeForwardInfo& info) {
  Napi::Object result = Napi::Object::New(env);
  if (context) {
    auto* holder = new ContextHolder{std::move(context)};
    result.Set("context", Napi::External<ContextHolder>::New(env, holder, [](Napi::Env, ContextHolder* data) { delete data; }));
  } else {
    result.Set("context", env.Null());
  }
  Napi::Int32Array counts = Napi::Int32Array::New(env, info.tokens_per_expert.size());
  for (size_t e = 0; e < info.tokens_per_expert.size(); ++e) counts[e] = info.tokens_per_expert[e];
  result.Set("tokensPerExpert", counts);
  result.Set("droppedTokens", Napi::Number::New(env, static_cast<double>(info.routing.dropped)));
  result.Set("addedTokens", Napi::Number::New(env, static_cast<double>(info.routing.added)));
  result.Set("tokensWithoutExpert", Napi::Number::New(env, static_cast<double>(info.routing.tokens_without_expert)));
  result.Set("paddingWaste", Napi::Number::New(env, info.routing.padding_waste));
  result.Set("paddingWasteUnrounded", Napi::Number::New(env, info.routing.padding_waste_unrounded));
  result.Set("balanceLoss", Napi::Number::New(env, info.balance_loss));
  result.Set("zLoss", Napi::Number::New(env, info.z_loss));
  result.Set("savedBytes", Napi::Number::New(env, static_cast<double>(info.saved_bytes)));
  result.Set("peakTemporaryBytes", Napi::Number::New(env, static_cast<double>(info.peak_temporary_bytes)));
  return result;
}

Napi::Value js_error(Napi::Env env, const std::string& code, const std::string& message) {
  Napi::Error error = Napi::Error::New(env, message);
  error.Set("code", Napi::String::New(env, code));
  return error.Value();
}

// Runs body and stores a snax::Error or std::exception as (code, message).
template <typename Body>
void capture(std::string* code, std::string* message, Body&& body) {
  try {
    body();
  } catch (const snax::Error& error) {
    *code = error.code;
    *message = error.what();
  } catch (const std::bad_alloc&) {
    *code = "OUT_OF_MEMORY";
    *message = "native allocation failed";
  } catch (const std::exception& error) {
    *code = "NATIVE_ERROR";
    *message = error.what();
  }
}

// Keeps the first `count` arguments alive while a worker runs. Backward
// callers pass x_TD as a tenth argument so that it is pinned too.
std::vector<Napi::Reference<Napi::Value>> pin(const Napi::CallbackInfo& info, size_t count) {
  std::vector<Napi::Reference<Napi::Value>> pinned;
  for (size_t i = 0; i < count && i < info.Length(); ++i) pinned.push_back(Napi::Persistent(info[i]));
  return pinned;
}

class ForwardWorker : public Napi::AsyncWorker {
 public:
  ForwardWorker(const Napi::CallbackInfo& info, ForwardFn forward, ForwardArgs args)
      : Napi::AsyncWorker(info.Env()), deferred_(Napi::Promise::Deferred::New(info.Env())), forward_(forward),
        args_(args), pinned_(pin(info, 5)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    capture(&code_, &message_, [&] {
      context_ = forward_(args_.out.data, &info_, args_.x.data, args_.router.data, args_.w1.data, args_.w2.data,
                          args_.config);
    });
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (!code_.empty()) {
      deferred_.Reject(js_error(env, code_, message_));
      return;
    }
    deferred_.Resolve(forward_result(env, std::move(context_), info_));
  }

 private:
  Napi::Promise::Deferred deferred_;
  ForwardFn forward_;
  ForwardArgs args_;
  std::vector<Napi::Reference<Napi::Value>> pinned_;
  std::unique_ptr<snax::MoeContext> context_;
  snax::MoeForwardInfo info_;
  std::string code_, message_;
};

class BackwardWorker : public Napi::AsyncWorker {
 public:
  BackwardWorker(const Napi::CallbackInfo& info, BackwardFn backward, std::unique_ptr<snax::MoeContext> context,
                 BackwardArgs args)
      : Napi::AsyncWorker(info.Env()), deferred_(Napi::Promise::Deferred::New(info.Env())), backward_(backward),
        context_(std::move(context)), args_(args), pinned_(pin(info, 10)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    capture(&code_, &message_, [&] {
      backward_(args_.dx.data, args_.drouter.data, args_.dw1.data, args_.dw2.data, *context_, args_.dout.data,
                args_.router.data, args_.w1.data, args_.w2.data);
    });
    context_.reset();
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::HandleScope scope(env);
    if (!code_.empty()) {
      deferred_.Reject(js_error(env, code_, message_));
      return;
    }
    deferred_.Resolve(env.Undefined());
  }

 private:
  Napi::Promise::Deferred deferred_;
  BackwardFn backward_;
  std::unique_ptr<snax::MoeContext> context_;
  BackwardArgs args_;
  std::vector<Napi::Reference<Napi::Value>> pinned_;
  std::string code_, message_;
};

template <ForwardFn forward>
Napi::Value forward_sync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    ForwardArgs args = read_forward_args(info);
    snax::MoeForwardInfo result;
    auto context = forward(args.out.data, &result, args.x.data, args.router.data, args.w1.data, args.w2.data, args.config);
    return forward_result(env, std::move(context), result);
  });
}

template <ForwardFn forward>
Napi::Value forward_async(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    auto* worker = new ForwardWorker(info, forward, read_forward_args(info));
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  });
}

template <BackwardFn backward, bool baseline>
Napi::Value backward_sync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    ContextHolder* holder = read_holder(info);
    if (!holder->context) throw_js(env, "INVALID_ARGUMENT", "context was released or already used by a backward pass");
    BackwardArgs args = read_backward_args(info, holder->context->config);
    std::unique_ptr<snax::MoeContext> context = take_context(env, holder, baseline);
    backward(args.dx.data, args.drouter.data, args.dw1.data, args.dw2.data, *context, args.dout.data,
             args.router.data, args.w1.data, args.w2.data);
    return env.Undefined();
  });
}

template <BackwardFn backward, bool baseline>
Napi::Value backward_async(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    ContextHolder* holder = read_holder(info);
    if (!holder->context) throw_js(env, "INVALID_ARGUMENT", "context was released or already used by a backward pass");
    BackwardArgs args = read_backward_args(info, holder->context->config);
    auto* worker = new BackwardWorker(info, backward, take_context(env, holder, baseline), args);
    Napi::Promise promise = worker->promise();
    worker->Queue();
    return promise;
  });
}

Napi::Value release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&]() -> Napi::Value {
    read_holder(info)->context.reset();
    return env.Undefined();
  });
}

}  // namespace

void register_moe(Napi::Env env, Napi::Object exports) {
  exports.Set("moeForward", Napi::Function::New(env, forward_sync<snax::moe_forward>));
  exports.Set("moeForwardAsync", Napi::Function::New(env, forward_async<snax::moe_forward>));
  exports.Set("moeBackward", Napi::Function::New(env, backward_sync<snax::moe_backward, false>));
  exports.Set("moeBackwardAsync", Napi::Function::New(env, backward_async<snax::moe_backward, false>));
  exports.Set("moeBaselineForward", Napi::Function::New(env, forward_sync<snax::moe_baseline_forward>));
  exports.Set("moeBaselineForwardAsync", Napi::Function::New(env, forward_async<snax::moe_baseline_forward>));
  exports.Set("moeBaselineBackward", Napi::Function::New(env, backward_sync<snax::moe_baseline_backward, true>));
  exports.Set("moeBaselineBackwardAsync", Napi::Function::New(env, backward_async<snax::moe_baseline_backward, true>));
  exports.Set("moeRelease", Napi::Function::New(env, release));
}

}  // namespace snax_napi
