// The addon's export table. Each binding file registers its own functions,
// so this file only lists the groups.
#include <napi.h>

#include "bindings/napi_util.h"

namespace snax_napi {
void register_core(Napi::Env env, Napi::Object exports);
void register_moe(Napi::Env env, Napi::Object exports);
void register_ops(Napi::Env env, Napi::Object exports);
}  // namespace snax_napi

static Napi::Object init(Napi::Env env, Napi::Object exports) {
  snax_napi::register_core(env, exports);
  snax_napi::register_moe(env, exports);
  snax_napi::register_ops(env, exports);
  return exports;
}

NODE_API_MODULE(snax_native, init)
