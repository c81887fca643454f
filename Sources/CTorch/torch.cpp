// libtorch behind the C interface of CTorch.h. This is the only translation unit that includes torch headers
// (they cost ~8 s to parse): keep it that way.
#include "CTorch.h"
#include "errors.hpp"

#include <torch/torch.h>
#include <ATen/autocast_mode.h>

#include <dlfcn.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

struct dfk_tensor {
  torch::Tensor t;
};

namespace {
using dfk_torch::guard;
using dfk_torch::set_err;
using dfk_torch::status;
dfk_tensor *wrap(torch::Tensor t) { return new dfk_tensor{std::move(t)}; }
template <typename F> dfk_tensor *make(char **err, F &&f) {
  return guard<dfk_tensor *>(err, nullptr, [&]() { return wrap(f()); });
}

torch::ScalarType scalar(int d) {
  switch (d) {
    case DFK_T_FLOAT16: return torch::kFloat16;
    case DFK_T_INT64: return torch::kInt64;
    case DFK_T_BOOL: return torch::kBool;
    case DFK_T_UINT8: return torch::kUInt8;
    case DFK_T_FLOAT64: return torch::kFloat64;
    case DFK_T_BFLOAT16: return torch::kBFloat16;
    default: return torch::kFloat32;
  }
}
int code(torch::ScalarType s) {
  switch (s) {
    case torch::kFloat16: return DFK_T_FLOAT16;
    case torch::kInt64: return DFK_T_INT64;
    case torch::kBool: return DFK_T_BOOL;
    case torch::kUInt8: return DFK_T_UINT8;
    case torch::kFloat64: return DFK_T_FLOAT64;
    case torch::kBFloat16: return DFK_T_BFLOAT16;
    default: return DFK_T_FLOAT32;
  }
}
torch::Device device(int d) {
  const int kind = d & 0xff;
  const auto index = static_cast<c10::DeviceIndex>(d >> 8);
  switch (kind) {
    case DFK_DEV_CUDA: return torch::Device(torch::kCUDA, index);
    case DFK_DEV_MPS: return torch::Device(torch::kMPS);
    case DFK_DEV_META: return torch::Device(torch::kMeta);
    default: return torch::Device(torch::kCPU);
  }
}
int device_code(const torch::Device &d) {
  if (d.is_cuda()) return DFK_DEV_CUDA | (std::max<int>(0, d.index()) << 8);
  if (d.is_mps()) return DFK_DEV_MPS;
  if (d.is_meta()) return DFK_DEV_META;
  return DFK_DEV_CPU;
}
torch::DeviceType device_type(int kind) {
  return kind == DFK_DEV_CUDA ? torch::kCUDA : kind == DFK_DEV_MPS ? torch::kMPS : torch::kCPU;
}

// Autocast state per device kind: libtorch 2.4 replaced the per-device functions with ones taking a device type.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_on(torch::DeviceType t) { return at::autocast::is_autocast_enabled(t); }
void autocast_enable(torch::DeviceType t, bool on) { at::autocast::set_autocast_enabled(t, on); }
void autocast_dtype(torch::DeviceType t, torch::ScalarType s) { at::autocast::set_autocast_dtype(t, s); }
#else
bool autocast_on(torch::DeviceType t) {
  return t == torch::kCUDA ? at::autocast::is_enabled() : t == torch::kCPU ? at::autocast::is_cpu_enabled() : false;
}
void autocast_enable(torch::DeviceType t, bool on) {
  if (t == torch::kCUDA) at::autocast::set_enabled(on);
  else if (t == torch::kCPU) at::autocast::set_cpu_enabled(on);
  else if (on) throw std::runtime_error("autocast on this device needs libtorch 2.4 or later");
}
void autocast_dtype(torch::DeviceType t, torch::ScalarType s) {
  if (t == torch::kCUDA) at::autocast::set_autocast_gpu_dtype(s);
  else if (t == torch::kCPU) at::autocast::set_autocast_cpu_dtype(s);
}
#endif
// Backward runs with autocast off (the casts were recorded by the forward), restored afterwards.
struct NoAutocast {
  bool cpu, cuda;
  NoAutocast() : cpu(autocast_on(torch::kCPU)), cuda(autocast_on(torch::kCUDA)) {
    if (cpu) autocast_enable(torch::kCPU, false);
    if (cuda) autocast_enable(torch::kCUDA, false);
  }
  ~NoAutocast() {
    if (cpu) autocast_enable(torch::kCPU, true);
    if (cuda) autocast_enable(torch::kCUDA, true);
  }
};
std::vector<int64_t> vec(const int64_t *p, int n) { return std::vector<int64_t>(p, p + n); }
torch::Tensor opt(const dfk_tensor *t) { return t ? t->t : torch::Tensor(); }
torch::Reduction::Reduction reduction(int r) {
  return r == 0 ? torch::Reduction::None : r == 2 ? torch::Reduction::Sum : torch::Reduction::Mean;
}
torch::Generator generator(int64_t seed) {
  auto g = at::detail::createCPUGenerator();
  g.set_current_seed(static_cast<uint64_t>(seed));
  return g;
}

// Gradient reversal: identity forward, -alpha * grad backward.
struct GradReverse : public torch::autograd::Function<GradReverse> {
  static torch::Tensor forward(torch::autograd::AutogradContext *ctx, torch::Tensor x, double alpha) {
    ctx->saved_data["alpha"] = alpha;
    return x.view_as(x);
  }
  static torch::autograd::tensor_list backward(torch::autograd::AutogradContext *ctx, torch::autograd::tensor_list g) {
    double alpha = ctx->saved_data["alpha"].toDouble();
    return {g[0] * (-alpha), torch::Tensor()};
  }
};
}  // namespace

// Shape-only ("meta") kernels that libtorch's C++ build lacks (PyTorch registers them from Python): convolution,
// batch norm, adaptive average pooling, ReLU and hardtanh, registered only where no Meta kernel exists. With them the engine can run a whole network
// on the meta device, which the tests use to find tensors a module makes on another device than its input's.
namespace meta_kernels {
std::vector<int64_t> ints(const c10::IValue &v) {
#if TORCH_VERSION_MAJOR >= 2
  if (!v.isIntList()) {
    std::vector<int64_t> r;
    for (const auto &s : v.toSymIntVector()) r.push_back(s.expect_int());
    return r;
  }
#endif
  return v.toIntVector();
}
int64_t integer(const c10::IValue &v) {
#if TORCH_VERSION_MAJOR >= 2
  if (v.isSymInt()) return v.toSymInt().expect_int();
#endif
  return v.toInt();
}
void convolution(const c10::OperatorHandle &, torch::jit::Stack *stack) {
  auto a = torch::jit::last(*stack, 9);
  auto input = a[0].toTensor(), weight = a[1].toTensor();
  auto stride = ints(a[3]), padding = ints(a[4]), dilation = ints(a[5]);
  bool transposed = a[6].toBool();
  auto outpad = ints(a[7]);
  int64_t groups = integer(a[8]);
  std::vector<int64_t> shape{input.size(0), transposed ? weight.size(1) * groups : weight.size(0)};
  for (size_t i = 0; i + 2 < static_cast<size_t>(input.dim()); ++i) {
    int64_t in = input.size(static_cast<int64_t>(i) + 2), k = weight.size(static_cast<int64_t>(i) + 2);
    int64_t s = stride[std::min(i, stride.size() - 1)], p = padding[std::min(i, padding.size() - 1)];
    int64_t d = dilation[std::min(i, dilation.size() - 1)];
    shape.push_back(transposed ? (in - 1) * s - 2 * p + d * (k - 1) + outpad[std::min(i, outpad.size() - 1)] + 1
                               : (in + 2 * p - d * (k - 1) - 1) / s + 1);
  }
  torch::jit::drop(*stack, 9);
  torch::jit::push(*stack, torch::empty(shape, input.options()));
}
void batch_norm(const c10::OperatorHandle &, torch::jit::Stack *stack) {
  auto a = torch::jit::last(*stack, 8);
  auto input = a[0].toTensor();
  bool training = a[5].toBool();
  int64_t c = input.dim() > 1 ? input.size(1) : 1;
  auto stats = input.options().dtype(torch::kFloat32);
  torch::jit::drop(*stack, 8);
  torch::jit::push(*stack, torch::empty_like(input), torch::empty({training ? c : 0}, stats), torch::empty({training ? c : 0}, stats));
}
void adaptive_avg_pool2d(const c10::OperatorHandle &, torch::jit::Stack *stack) {
  auto a = torch::jit::last(*stack, 2);
  auto input = a[0].toTensor();
  auto out = ints(a[1]);
  std::vector<int64_t> shape(input.sizes().begin(), input.sizes().end() - 2);
  shape.insert(shape.end(), out.begin(), out.end());
  torch::jit::drop(*stack, 2);
  torch::jit::push(*stack, torch::empty(shape, input.options()));
}
void like_first(const c10::OperatorHandle &op, torch::jit::Stack *stack) {
  auto n = op.schema().arguments().size();
  auto input = torch::jit::peek(*stack, 0, n).toTensor();
  torch::jit::drop(*stack, n);
  torch::jit::push(*stack, torch::empty_like(input));
}
struct Registration {
  std::unique_ptr<torch::Library> lib;
  Registration() {
    try {
      auto missing = [](const char *name, const char *overload) {
        auto op = c10::Dispatcher::singleton().findSchema({name, overload});
        return op.has_value() && !op->hasKernelForDispatchKey(c10::DispatchKey::Meta);
      };
      bool conv = missing("aten::convolution_overrideable", ""), bn = missing("aten::native_batch_norm", "");
      bool pool = missing("aten::_adaptive_avg_pool2d", "");
      // Element-wise ops whose result is shaped like their input.
      std::vector<const char *> like;
      for (const char *name : {"hardtanh", "relu"})
        if (missing((std::string("aten::") + name).c_str(), "")) like.push_back(name);
      if (!conv && !bn && !pool && like.empty()) return;
      lib = std::make_unique<torch::Library>(torch::Library::IMPL, "aten", c10::DispatchKey::Meta, __FILE__, __LINE__);
      if (conv) lib->impl("convolution_overrideable", torch::CppFunction::makeFromBoxedFunction<&convolution>());
      if (bn) lib->impl("native_batch_norm", torch::CppFunction::makeFromBoxedFunction<&batch_norm>());
      if (pool) lib->impl("_adaptive_avg_pool2d", torch::CppFunction::makeFromBoxedFunction<&adaptive_avg_pool2d>());
      for (const char *name : like) lib->impl(name, torch::CppFunction::makeFromBoxedFunction<&like_first>());
    } catch (...) {
      lib.reset();   // shape-only kernels are a convenience: never stop the library from loading
    }
  }
};
Registration registration;
}  // namespace meta_kernels

// A binary built against the CPU libtorch of a PyTorch version runs on the CUDA libtorch of the same version when
// that one is on the library path (scripts/gpu-check.sh --packed): loading libtorch_cuda registers its CUDA kernels,
// as `import torch` does. A build linked with libtorch_cuda has it loaded already; without one nothing happens.
namespace {
struct CudaPreload {
  CudaPreload() {
    if (!std::getenv("DFK_NO_CUDA_PRELOAD")) dlopen("libtorch_cuda.so", RTLD_NOW | RTLD_GLOBAL);
  }
} cuda_preload;
}  // namespace

extern "C" {

void dfk_torch_string_free(char *s) { std::free(s); }
void dfk_tensor_free(dfk_tensor *t) { delete t; }

void dfk_torch_set_threads(int n) {
  try { torch::set_num_threads(std::max(1, n)); } catch (...) {}
}
int dfk_torch_threads(void) { return torch::get_num_threads(); }
int dfk_torch_cuda_available(void) { return torch::cuda::is_available() ? 1 : 0; }
int dfk_torch_cuda_device_count(void) {
  try { return static_cast<int>(torch::cuda::device_count()); } catch (...) { return 0; }
}
int dfk_torch_mps_available(void) {
  try { return at::hasMPS() ? 1 : 0; } catch (...) { return 0; }
}
int dfk_torch_synchronize(int dev, char **err) {
  return status(err, [&]() {
    auto d = device(dev);
    if (d.is_cuda()) torch::cuda::synchronize(d.index());
  });
}
int dfk_autocast_set(int kind, int enabled, int dtype, char **err) {
  return status(err, [&]() {
    auto t = device_type(kind);
    if (enabled) autocast_dtype(t, scalar(dtype));
    autocast_enable(t, enabled != 0);
  });
}
int dfk_autocast_enabled(int kind) {
  try { return autocast_on(device_type(kind)) ? 1 : 0; } catch (...) { return 0; }
}
void dfk_autocast_clear_cache(void) {
  try { at::autocast::clear_cache(); } catch (...) {}
}
const char *dfk_torch_version(void) { return TORCH_VERSION; }
void dfk_torch_manual_seed(uint64_t seed) {
  try { torch::manual_seed(seed); } catch (...) {}
}
int dfk_torch_grad_enabled(void) { return torch::autograd::GradMode::is_enabled() ? 1 : 0; }
void dfk_torch_set_grad_enabled(int on) { torch::autograd::GradMode::set_enabled(on != 0); }

dfk_tensor *dfk_tensor_from_data(const void *data, int dtype, const int64_t *shape, int ndim, char **err) {
  return make(err, [&]() {
    auto opts = torch::TensorOptions().dtype(scalar(dtype));
    return torch::from_blob(const_cast<void *>(data), vec(shape, ndim), opts).clone();
  });
}
dfk_tensor *dfk_tensor_full(const int64_t *shape, int ndim, double value, int dtype, int dev, char **err) {
  return make(err, [&]() { return torch::full(vec(shape, ndim), value, torch::TensorOptions().dtype(scalar(dtype)).device(device(dev))); });
}
dfk_tensor *dfk_tensor_randn(const int64_t *shape, int ndim, int64_t seed, int dev, char **err) {
  return make(err, [&]() {
    // A seeded draw comes from the CPU generator (the same values on every device); an unseeded one is drawn on the
    // device itself, so nothing is copied.
    if (seed < 0) return torch::randn(vec(shape, ndim), torch::TensorOptions().device(device(dev)));
    return torch::randn(vec(shape, ndim), generator(seed)).to(device(dev));
  });
}
dfk_tensor *dfk_tensor_rand(const int64_t *shape, int ndim, int64_t seed, int dev, char **err) {
  return make(err, [&]() {
    if (seed < 0) return torch::rand(vec(shape, ndim), torch::TensorOptions().device(device(dev)));
    return torch::rand(vec(shape, ndim), generator(seed)).to(device(dev));
  });
}

int dfk_tensor_ndim(const dfk_tensor *t) { return static_cast<int>(t->t.dim()); }
void dfk_tensor_shape(const dfk_tensor *t, int64_t *out) {
  for (int64_t i = 0; i < t->t.dim(); ++i) out[i] = t->t.size(i);
}
int dfk_tensor_dtype(const dfk_tensor *t) { return code(t->t.scalar_type()); }
int dfk_tensor_device(const dfk_tensor *t) { return device_code(t->t.device()); }
int64_t dfk_tensor_numel(const dfk_tensor *t) { return t->t.numel(); }

int dfk_tensor_copy_out(const dfk_tensor *t, int dtype, void *out, char **err) {
  return status(err, [&]() {
    auto c = t->t.detach().to(torch::kCPU, scalar(dtype)).contiguous();
    std::memcpy(out, c.data_ptr(), c.numel() * c.element_size());
  });
}
dfk_tensor *dfk_tensor_to(const dfk_tensor *t, int dtype, int dev, char **err) {
  return make(err, [&]() { return t->t.to(device(dev), scalar(dtype)); });
}
dfk_tensor *dfk_tensor_to_async(const dfk_tensor *t, int dtype, int dev, int non_blocking, char **err) {
  return make(err, [&]() { return t->t.to(device(dev), scalar(dtype), non_blocking != 0); });
}
dfk_tensor *dfk_tensor_pin_memory(const dfk_tensor *t, char **err) {
  return make(err, [&]() { return torch::cuda::is_available() && t->t.is_cpu() ? t->t.pin_memory() : t->t; });
}
dfk_tensor *dfk_tensor_clone(const dfk_tensor *t, char **err) { return make(err, [&]() { return t->t.clone(); }); }
dfk_tensor *dfk_tensor_detach(const dfk_tensor *t, char **err) { return make(err, [&]() { return t->t.detach(); }); }
dfk_tensor *dfk_tensor_share(const dfk_tensor *t) { return new dfk_tensor{t->t}; }

dfk_tensor *dfk_binary(int op, const dfk_tensor *a, const dfk_tensor *b, char **err) {
  return make(err, [&]() -> torch::Tensor {
    const auto &x = a->t, &y = b->t;
    switch (op) {
      case 0: return x + y;
      case 1: return x - y;
      case 2: return x * y;
      case 3: return x / y;
      case 4: return torch::pow(x, y);
      case 5: return torch::maximum(x, y);
      case 6: return torch::minimum(x, y);
      case 7: return torch::eq(x, y);
      case 8: return torch::lt(x, y);
      case 9: return torch::gt(x, y);
      case 10: return torch::le(x, y);
      case 11: return torch::ge(x, y);
    }
    throw std::runtime_error("unknown binary op");
  });
}
dfk_tensor *dfk_binary_scalar(int op, const dfk_tensor *a, double s, char **err) {
  return make(err, [&]() -> torch::Tensor {
    const auto &x = a->t;
    switch (op) {
      case 0: return x + s;
      case 1: return x - s;
      case 2: return x * s;
      case 3: return x / s;
      case 4: return torch::pow(x, s);
      case 5: return torch::clamp_min(x, s);
      case 6: return torch::clamp_max(x, s);
      case 7: return torch::eq(x, s);
      case 8: return torch::lt(x, s);
      case 9: return torch::gt(x, s);
      case 10: return torch::le(x, s);
      case 11: return torch::ge(x, s);
    }
    throw std::runtime_error("unknown binary op");
  });
}
dfk_tensor *dfk_unary(int op, const dfk_tensor *a, char **err) {
  return make(err, [&]() -> torch::Tensor {
    const auto &x = a->t;
    switch (op) {
      case 0: return -x;
      case 1: return torch::exp(x);
      case 2: return torch::log(x);
      case 3: return torch::sqrt(x);
      case 4: return torch::abs(x);
      case 5: return torch::relu(x);
      case 6: return torch::hardtanh(x, 0.0, 6.0);
      case 7: return torch::sigmoid(x);
      case 8: return torch::tanh(x);
      case 9: return torch::silu(x);
      case 10: return torch::gelu(x);
      case 11: return torch::square(x);
      case 12: return torch::rsqrt(x);
      case 13: return torch::sign(x);
      case 14: return torch::floor(x);
      case 15: return torch::softplus(x);
      case 16: return torch::log_sigmoid(x);
      case 17: return torch::reciprocal(x);
    }
    throw std::runtime_error("unknown unary op");
  });
}
dfk_tensor *dfk_clamp(const dfk_tensor *a, double lo, double hi, char **err) {
  return make(err, [&]() { return torch::clamp(a->t, lo, hi); });
}
dfk_tensor *dfk_where(const dfk_tensor *c, const dfk_tensor *a, const dfk_tensor *b, char **err) {
  return make(err, [&]() { return torch::where(c->t, a->t, b->t); });
}
dfk_tensor *dfk_reduce(int op, const dfk_tensor *a, const int64_t *dims, int ndims, int keepdim, char **err) {
  return make(err, [&]() -> torch::Tensor {
    const auto &x = a->t;
    std::vector<int64_t> d = vec(dims, ndims);
    bool all = ndims == 0;
    if (all && keepdim) { d.clear(); for (int64_t i = 0; i < x.dim(); ++i) d.push_back(i); all = false; }
    switch (op) {
      case 0: return all ? x.sum() : x.sum(d, keepdim);
      case 1: return all ? x.mean() : x.mean(d, keepdim);
      case 2: return all ? x.max() : std::get<0>(x.max(d.at(0), keepdim));
      case 3: return all ? x.min() : std::get<0>(x.min(d.at(0), keepdim));
      case 4: return all ? x.var() : x.var(d, true, keepdim);
      case 5: return all ? x.std() : x.std(d, true, keepdim);
      case 6: return all ? x.var(false) : x.var(d, false, keepdim);
      case 7: return all ? x.argmax() : x.argmax(d.at(0), keepdim);
      case 8: return all ? torch::logsumexp(x.flatten(), 0) : torch::logsumexp(x, d, keepdim);
    }
    throw std::runtime_error("unknown reduction");
  });
}
dfk_tensor *dfk_matmul(const dfk_tensor *a, const dfk_tensor *b, char **err) {
  return make(err, [&]() { return torch::matmul(a->t, b->t); });
}
dfk_tensor *dfk_global_norm(const dfk_tensor *const *ts, int n, char **err) {
  return make(err, [&]() -> torch::Tensor {
    if (n <= 0) throw std::runtime_error("the norm of no tensors");
    std::vector<torch::Tensor> squares;
    squares.reserve(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) squares.push_back(ts[i]->t.detach().to(torch::kFloat32).square().sum());
    return torch::stack(squares).sum().sqrt();
  });
}

dfk_tensor *dfk_reshape(const dfk_tensor *a, const int64_t *shape, int ndim, char **err) {
  return make(err, [&]() { return a->t.reshape(vec(shape, ndim)); });
}
dfk_tensor *dfk_permute(const dfk_tensor *a, const int64_t *dims, int ndim, char **err) {
  return make(err, [&]() { return a->t.permute(vec(dims, ndim)); });
}
dfk_tensor *dfk_transpose(const dfk_tensor *a, int64_t d0, int64_t d1, char **err) {
  return make(err, [&]() { return a->t.transpose(d0, d1); });
}
dfk_tensor *dfk_flatten(const dfk_tensor *a, int64_t start, int64_t end, char **err) {
  return make(err, [&]() { return a->t.flatten(start, end); });
}
dfk_tensor *dfk_unsqueeze(const dfk_tensor *a, int64_t dim, char **err) { return make(err, [&]() { return a->t.unsqueeze(dim); }); }
dfk_tensor *dfk_squeeze(const dfk_tensor *a, int64_t dim, char **err) { return make(err, [&]() { return a->t.squeeze(dim); }); }
dfk_tensor *dfk_narrow(const dfk_tensor *a, int64_t dim, int64_t start, int64_t length, char **err) {
  return make(err, [&]() { return a->t.narrow(dim, start, length); });
}
dfk_tensor *dfk_index_select(const dfk_tensor *a, int64_t dim, const dfk_tensor *index, char **err) {
  return make(err, [&]() { return a->t.index_select(dim, index->t); });
}
dfk_tensor *dfk_cat(const dfk_tensor *const *ts, int n, int64_t dim, char **err) {
  return make(err, [&]() {
    std::vector<torch::Tensor> v;
    for (int i = 0; i < n; ++i) v.push_back(ts[i]->t);
    return torch::cat(v, dim);
  });
}
dfk_tensor *dfk_stack(const dfk_tensor *const *ts, int n, int64_t dim, char **err) {
  return make(err, [&]() {
    std::vector<torch::Tensor> v;
    for (int i = 0; i < n; ++i) v.push_back(ts[i]->t);
    return torch::stack(v, dim);
  });
}
dfk_tensor *dfk_expand(const dfk_tensor *a, const int64_t *shape, int ndim, char **err) {
  return make(err, [&]() { return a->t.expand(vec(shape, ndim)); });
}
dfk_tensor *dfk_pad(const dfk_tensor *a, const int64_t *pads, int npads, double value, char **err) {
  return make(err, [&]() { return torch::constant_pad_nd(a->t, vec(pads, npads), value); });
}

dfk_tensor *dfk_conv2d(const dfk_tensor *x, const dfk_tensor *w, const dfk_tensor *b, const int64_t *stride,
                       const int64_t *padding, const int64_t *dilation, int64_t groups, char **err) {
  return make(err, [&]() {
    return torch::conv2d(x->t, w->t, opt(b), vec(stride, 2), vec(padding, 2), vec(dilation, 2), groups);
  });
}
dfk_tensor *dfk_batch_norm(const dfk_tensor *x, const dfk_tensor *weight, const dfk_tensor *bias,
                           dfk_tensor *running_mean, dfk_tensor *running_var, int training, double momentum,
                           double eps, char **err) {
  return make(err, [&]() {
    return torch::batch_norm(x->t, opt(weight), opt(bias), opt(running_mean), opt(running_var), training != 0,
                             momentum, eps, true);
  });
}
dfk_tensor *dfk_linear(const dfk_tensor *x, const dfk_tensor *w, const dfk_tensor *b, char **err) {
  return make(err, [&]() { return torch::linear(x->t, w->t, opt(b)); });
}
dfk_tensor *dfk_max_pool2d(const dfk_tensor *x, const int64_t *k, const int64_t *s, const int64_t *p, int ceil, char **err) {
  return make(err, [&]() { return torch::max_pool2d(x->t, vec(k, 2), vec(s, 2), vec(p, 2), {1, 1}, ceil != 0); });
}
dfk_tensor *dfk_avg_pool2d(const dfk_tensor *x, const int64_t *k, const int64_t *s, const int64_t *p, int ceil,
                           int count_include_pad, char **err) {
  return make(err, [&]() { return torch::avg_pool2d(x->t, vec(k, 2), vec(s, 2), vec(p, 2), ceil != 0, count_include_pad != 0); });
}
dfk_tensor *dfk_adaptive_avg_pool2d(const dfk_tensor *x, int64_t oh, int64_t ow, char **err) {
  return make(err, [&]() { return torch::adaptive_avg_pool2d(x->t, {oh, ow}); });
}
dfk_tensor *dfk_softmax(const dfk_tensor *x, int64_t dim, int log, char **err) {
  return make(err, [&]() { return log ? torch::log_softmax(x->t, dim) : torch::softmax(x->t, dim); });
}
dfk_tensor *dfk_dropout(const dfk_tensor *x, double p, int training, char **err) {
  return make(err, [&]() { return torch::dropout(x->t, p, training != 0); });
}
dfk_tensor *dfk_layer_norm(const dfk_tensor *x, const int64_t *normalized_shape, int ndim, const dfk_tensor *weight,
                           const dfk_tensor *bias, double eps, char **err) {
  return make(err, [&]() { return torch::layer_norm(x->t, vec(normalized_shape, ndim), opt(weight), opt(bias), eps); });
}
dfk_tensor *dfk_drop_path(const dfk_tensor *x, double p, int training, int scale_by_keep, char **err) {
  return make(err, [&]() -> torch::Tensor {
    if (p < 0.0 || p > 1.0) throw std::runtime_error("drop path probability must be in [0, 1], got " + std::to_string(p));
    if (!training || p == 0.0) return x->t;
    if (x->t.dim() == 0) throw std::runtime_error("drop path needs a batch dimension");
    double keep = 1.0 - p;
    std::vector<int64_t> shape(static_cast<size_t>(x->t.dim()), 1);
    shape[0] = x->t.size(0);
    auto mask = x->t.new_empty(shape).bernoulli_(keep);
    if (keep > 0.0 && scale_by_keep) mask.div_(keep);
    return x->t * mask;
  });
}
dfk_tensor *dfk_contiguous(const dfk_tensor *x, int channels_last, char **err) {
  return make(err, [&]() {
    return x->t.contiguous(channels_last ? torch::MemoryFormat::ChannelsLast : torch::MemoryFormat::Contiguous);
  });
}
dfk_tensor *dfk_cross_entropy(const dfk_tensor *logits, const dfk_tensor *target, const dfk_tensor *w, int red,
                              double smoothing, char **err) {
  return make(err, [&]() {
    return torch::cross_entropy_loss(logits->t, target->t, opt(w), reduction(red), -100, smoothing);
  });
}
dfk_tensor *dfk_bce_with_logits(const dfk_tensor *logits, const dfk_tensor *target, const dfk_tensor *w,
                                const dfk_tensor *pos_weight, int red, char **err) {
  return make(err, [&]() {
    return torch::binary_cross_entropy_with_logits(logits->t, target->t, opt(w), opt(pos_weight), reduction(red));
  });
}
dfk_tensor *dfk_grad_reverse(const dfk_tensor *x, double alpha, char **err) {
  return make(err, [&]() { return GradReverse::apply(x->t, alpha); });
}

int dfk_tensor_set_requires_grad(dfk_tensor *t, int on, char **err) {
  return status(err, [&]() { t->t.set_requires_grad(on != 0); });
}
int dfk_tensor_requires_grad(const dfk_tensor *t) { return t->t.requires_grad() ? 1 : 0; }
int dfk_tensor_retain_grad(dfk_tensor *t, char **err) { return status(err, [&]() { t->t.retain_grad(); }); }
int dfk_backward(const dfk_tensor *t, const dfk_tensor *grad, int retain_graph, char **err) {
  return status(err, [&]() { NoAutocast off; t->t.backward(opt(grad), retain_graph != 0); });
}
dfk_tensor *dfk_tensor_grad(const dfk_tensor *t) {
  try {
    const auto &g = t->t.grad();
    return g.defined() ? wrap(g) : nullptr;
  } catch (...) {
    return nullptr;
  }
}
int dfk_tensor_zero_grad(dfk_tensor *t) {
  try {
    auto &g = t->t.mutable_grad();
    if (g.defined()) g = torch::Tensor();
    return 0;
  } catch (...) {
    return -1;
  }
}
int dfk_autograd_grad(const dfk_tensor *const *outputs, int n_out, const dfk_tensor *const *inputs, int n_in,
                      const dfk_tensor *const *grad_outputs, int retain_graph, int create_graph,
                      dfk_tensor **results, char **err) {
  return status(err, [&]() {
    std::vector<torch::Tensor> outs, ins, gos;
    for (int i = 0; i < n_out; ++i) outs.push_back(outputs[i]->t);
    for (int i = 0; i < n_in; ++i) ins.push_back(inputs[i]->t);
    if (grad_outputs)
      for (int i = 0; i < n_out; ++i) gos.push_back(opt(grad_outputs[i]));
    NoAutocast off;
    auto gs = torch::autograd::grad(outs, ins, gos, retain_graph != 0, create_graph != 0, true);
    for (int i = 0; i < n_in; ++i) results[i] = gs[i].defined() ? wrap(gs[i]) : nullptr;
  });
}

int dfk_add_inplace(dfk_tensor *t, const dfk_tensor *other, double alpha, char **err) {
  return status(err, [&]() { t->t.add_(other->t, alpha); });
}
int dfk_mul_scalar_inplace(dfk_tensor *t, double s, char **err) { return status(err, [&]() { t->t.mul_(s); }); }
int dfk_mul_inplace(dfk_tensor *t, const dfk_tensor *other, char **err) { return status(err, [&]() { t->t.mul_(other->t); }); }
int dfk_copy_inplace(dfk_tensor *t, const dfk_tensor *src, char **err) { return status(err, [&]() { t->t.copy_(src->t); }); }
int dfk_zero_inplace(dfk_tensor *t, char **err) { return status(err, [&]() { t->t.zero_(); }); }
int dfk_set_data(dfk_tensor *t, const dfk_tensor *src, char **err) {
  return status(err, [&]() {
    // set_data keeps the autograd identity, but only between dense backends (CPU, CUDA, MPS). To or from "meta"
    // the handle takes the new tensor instead (a fresh leaf with the same requires_grad): every Swift owner of
    // this parameter holds this one handle, so they all see it.
    if (at::_has_compatible_shallow_copy_type(t->t, src->t)) {
      t->t.set_data(src->t);
    } else {
      const bool rg = t->t.requires_grad();
      t->t = src->t.detach();
      if (rg) t->t.set_requires_grad(true);
    }
  });
}
dfk_tensor *dfk_relu_inplace(dfk_tensor *t, char **err) {
  return make(err, [&]() { return torch::relu_(t->t); });
}
int dfk_addcmul_inplace(dfk_tensor *t, const dfk_tensor *b, const dfk_tensor *c, double value, char **err) {
  return status(err, [&]() { t->t.addcmul_(b->t, c->t, value); });
}
int dfk_addcdiv_inplace(dfk_tensor *t, const dfk_tensor *b, const dfk_tensor *c, double value, char **err) {
  return status(err, [&]() { t->t.addcdiv_(b->t, c->t, value); });
}

}  // extern "C"
