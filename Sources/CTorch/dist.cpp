// c10d behind CTorchDist.h: process groups (Gloo, NCCL when built for it) over a TCPStore, bucketed all-reduce and
// DDP-style gradient synchronisation. The second and last translation unit that includes torch headers; it includes
// the narrow ATen / autograd / c10d headers, not torch/torch.h.
#include "CTorchDist.h"
#include "errors.hpp"

#include <ATen/ATen.h>
#include <torch/csrc/autograd/engine.h>
#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/function_hook.h>
#include <torch/csrc/autograd/grad_mode.h>
#include <torch/csrc/autograd/variable.h>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>
#ifdef USE_C10D_NCCL
#include <ATen/cuda/CUDAContext.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

// Same layout as in torch.cpp (one definition: a tensor handle).
struct dfk_tensor {
  at::Tensor t;
};

namespace {
using dfk_torch::set_err;
using dfk_torch::status;
}  // namespace

struct GradSync;

// libtorch 2.x split the process group into a front end and per-device `Backend`s; ProcessGroupGloo became a
// Backend with the same collectives. 1.13's ProcessGroupGloo is a ProcessGroup.
#if TORCH_VERSION_MAJOR >= 2
using dfk_process_group = c10d::Backend;
#else
using dfk_process_group = c10d::ProcessGroup;
#endif
// A leaf's gradient accumulator: a shared_ptr in 1.13, an intrusive_ptr in later versions.
using dfk_accumulator = decltype(torch::autograd::impl::grad_accumulator(std::declval<const at::Tensor &>()));

struct dfk_dist {
  int rank = 0, world = 1, backend = DFK_DIST_GLOO;
  std::chrono::milliseconds timeout{0};
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<dfk_process_group> pg;
  std::shared_ptr<GradSync> sync;
  int64_t calls = 0, bytes = 0;
  double seconds = 0;

  // In-place sum (then / world) of `ts`, packed into flat buckets per dtype and device.
  void allreduce(const std::vector<at::Tensor> &ts, bool average, int64_t bucketBytes) {
    auto t0 = std::chrono::steady_clock::now();
    at::NoGradGuard ng;
    std::map<std::pair<int, int>, std::vector<std::vector<at::Tensor>>> buckets;
    std::map<std::pair<int, int>, int64_t> filled;
    for (const auto &t : ts) {
      if (!t.defined()) continue;
      auto key = std::make_pair(static_cast<int>(t.scalar_type()), static_cast<int>(t.device().type()));
      auto &list = buckets[key];
      int64_t b = t.numel() * static_cast<int64_t>(t.element_size());
      if (list.empty() || (filled[key] + b > bucketBytes && !list.back().empty())) {
        list.emplace_back();
        filled[key] = 0;
      }
      list.back().push_back(t);
      filled[key] += b;
    }
    std::vector<std::pair<at::Tensor, std::vector<at::Tensor>>> flats;
    std::vector<c10::intrusive_ptr<c10d::Work>> works;
    for (auto &kv : buckets) {
      for (auto &members : kv.second) {
        std::vector<at::Tensor> parts;
        for (auto &m : members) parts.push_back(m.reshape({-1}));
        at::Tensor flat = at::cat(parts);
        bytes += flat.numel() * static_cast<int64_t>(flat.element_size());
        std::vector<at::Tensor> io{flat};
        works.push_back(pg->allreduce(io));
        flats.emplace_back(flat, members);
      }
    }
    for (auto &w : works) {
      if (!w->wait(timeout)) throw std::runtime_error("all-reduce did not complete");
    }
    for (auto &f : flats) {
      at::Tensor flat = f.first;
      if (average) flat.div_(static_cast<double>(world));
      int64_t off = 0;
      for (auto &m : f.second) {
        int64_t n = m.numel();
        m.copy_(flat.narrow(0, off, n).view(m.sizes()));
        off += n;
      }
    }
    calls += 1;
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
};

// DDP's gradient synchronisation: a post-hook on each parameter's AccumulateGrad marks the running backward pass;
// the engine's final callback (queued once per pass) all-reduces every parameter's accumulated gradient.
struct GradSync : std::enable_shared_from_this<GradSync> {
  dfk_dist *d;
  std::vector<at::Tensor> params;
  std::vector<dfk_accumulator> accumulators;  // kept alive: the hooks live on them
  std::vector<uintptr_t> hookKeys;
  int64_t bucketBytes;
  std::mutex m;
  bool queued = false;
  bool active = true;

  void onAccumulate() {
    std::lock_guard<std::mutex> lock(m);
    if (!active || queued) return;
    queued = true;
    std::weak_ptr<GradSync> weak = shared_from_this();
    torch::autograd::Engine::get_default_engine().queue_callback([weak]() {
      auto self = weak.lock();
      if (!self) return;
      {
        std::lock_guard<std::mutex> lock(self->m);
        self->queued = false;
        if (!self->active) return;
      }
      std::vector<at::Tensor> grads;
      for (auto &p : self->params) {
        const at::Tensor &g = p.grad();
        if (g.defined()) grads.push_back(g);
      }
      self->d->allreduce(grads, true, self->bucketBytes);
    });
  }
};

namespace {
struct AccumulatePostHook : torch::autograd::FunctionPostHook {
  std::weak_ptr<GradSync> sync;
  explicit AccumulatePostHook(std::weak_ptr<GradSync> s) : sync(std::move(s)) {}
  torch::autograd::variable_list operator()(const torch::autograd::variable_list &outputs,
                                            const torch::autograd::variable_list &) override {
    if (auto s = sync.lock()) s->onAccumulate();
    return outputs;
  }
};
}  // namespace

extern "C" {

int dfk_dist_backend_available(int backend) {
  if (backend == DFK_DIST_GLOO) return 1;
#ifdef USE_C10D_NCCL
  if (backend == DFK_DIST_NCCL) return at::cuda::is_available() ? 1 : 0;
#endif
  return 0;
}

dfk_dist *dfk_dist_init(const char *master_addr, int master_port, int rank, int world, int backend, double timeout_s,
                        char **err) {
  auto d = std::make_unique<dfk_dist>();
  int rc = status(err, [&]() {
    if (world < 1 || rank < 0 || rank >= world) throw std::runtime_error("rank must be within 0..<world size");
    if (master_port < 1 || master_port > 65535) throw std::runtime_error("master port must be within 1...65535");
    d->rank = rank;
    d->world = world;
    d->backend = backend;
    d->timeout = std::chrono::milliseconds(static_cast<int64_t>(timeout_s * 1000));
    c10d::TCPStoreOptions so;
    so.port = static_cast<std::uint16_t>(master_port);
    so.isServer = rank == 0;
    so.numWorkers = world;
    so.waitWorkers = true;
    so.timeout = d->timeout;
    auto tcp = c10::make_intrusive<c10d::TCPStore>(std::string(master_addr), so);
    d->store = c10::make_intrusive<c10d::PrefixStore>("dfk", tcp);
    if (backend == DFK_DIST_NCCL) {
#ifdef USE_C10D_NCCL
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = d->timeout;
      d->pg = c10::make_intrusive<c10d::ProcessGroupNCCL>(d->store, rank, world, o);
#else
      throw std::runtime_error("this CTorch was built without NCCL (build with LIBTORCH=<CUDA libtorch> DFK_NCCL=1)");
#endif
    } else {
      auto o = c10d::ProcessGroupGloo::Options::create(d->timeout);
      // As torch.distributed: GLOO_SOCKET_IFNAME names the interface; otherwise a rendezvous on the loopback binds
      // to it, and any other binds to the address this host's name resolves to.
      std::string addr(master_addr);
      if (const char *ifname = std::getenv("GLOO_SOCKET_IFNAME"); ifname && *ifname)
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (addr == "127.0.0.1" || addr == "localhost" || addr == "::1")
        o->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(addr));
      else
        o->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      o->threads = 2;
      d->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(d->store, rank, world, o);
    }
  });
  if (rc != 0) return nullptr;
  return d.release();
}

void dfk_dist_free(dfk_dist *d) {
  if (!d) return;
  dfk_dist_detach_grad_sync(d);
  delete d;
}

int dfk_dist_rank(const dfk_dist *d) { return d->rank; }
int dfk_dist_world(const dfk_dist *d) { return d->world; }

int dfk_dist_allreduce(dfk_dist *d, dfk_tensor *const *ts, int n, int average, int64_t bucket_bytes, char **err) {
  return status(err, [&]() {
    std::vector<at::Tensor> v;
    for (int i = 0; i < n; i++) v.push_back(ts[i]->t);
    d->allreduce(v, average != 0, bucket_bytes > 0 ? bucket_bytes : (int64_t(25) << 20));
  });
}

int dfk_dist_broadcast(dfk_dist *d, dfk_tensor *const *ts, int n, int root, char **err) {
  return status(err, [&]() {
    at::NoGradGuard ng;
    for (int i = 0; i < n; i++) {
      at::Tensor t = ts[i]->t;
      at::Tensor c = t.detach().contiguous().clone();
      std::vector<at::Tensor> io{c};
      c10d::BroadcastOptions o;
      o.rootRank = root;
      auto w = d->pg->broadcast(io, o);
      if (!w->wait(d->timeout)) throw std::runtime_error("broadcast did not complete");
      t.detach().copy_(c);
    }
  });
}

int dfk_dist_barrier(dfk_dist *d, char **err) {
  return status(err, [&]() {
    // A small all-reduce: works on every backend and honours the timeout.
    at::Tensor t = at::zeros({1}, at::TensorOptions().dtype(at::kFloat).device(
                                      d->backend == DFK_DIST_NCCL ? at::Device(at::kCUDA) : at::Device(at::kCPU)));
    std::vector<at::Tensor> io{t};
    auto w = d->pg->allreduce(io);
    if (!w->wait(d->timeout)) throw std::runtime_error("barrier did not complete");
  });
}

int dfk_dist_attach_grad_sync(dfk_dist *d, dfk_tensor *const *params, int n, int64_t bucket_bytes, char **err) {
  return status(err, [&]() {
    dfk_dist_detach_grad_sync(d);
    auto s = std::make_shared<GradSync>();
    s->d = d;
    s->bucketBytes = bucket_bytes > 0 ? bucket_bytes : (int64_t(25) << 20);
    for (int i = 0; i < n; i++) {
      at::Tensor p = params[i]->t;
      if (!p.requires_grad()) continue;
      auto acc = torch::autograd::impl::grad_accumulator(p);
      if (!acc) throw std::runtime_error("a parameter is not a leaf tensor");
      s->hookKeys.push_back(acc->add_post_hook(std::make_unique<AccumulatePostHook>(s)));
      s->accumulators.push_back(acc);
      s->params.push_back(p);
    }
    d->sync = s;
  });
}

void dfk_dist_detach_grad_sync(dfk_dist *d) {
  if (!d || !d->sync) return;
  {
    std::lock_guard<std::mutex> lock(d->sync->m);
    d->sync->active = false;
  }
  for (size_t i = 0; i < d->sync->accumulators.size(); i++) d->sync->accumulators[i]->del_post_hook(d->sync->hookKeys[i]);
  d->sync.reset();
}

void dfk_dist_stats(const dfk_dist *d, int64_t *calls, int64_t *bytes, double *seconds) {
  if (calls) *calls = d->calls;
  if (bytes) *bytes = d->bytes;
  if (seconds) *seconds = d->seconds;
}

}  // extern "C"
