// CTorch: a plain C interface to the parts of libtorch (PyTorch's C++ library, 1.13 API, also 2.x) that
// DeepfakeKit's engine uses. Models, losses, optimizers and training strategies are written in Swift on top.
//
// Conventions (as CVision.h): opaque handles released with their *_free; a function that can fail takes
// `char **err` last and returns NULL / a negative value with a malloc'ed message (dfk_torch_string_free).
// No C++ exception crosses this boundary. Grad mode is thread-local, as in libtorch.
#ifndef DFK_CTORCH_H
#define DFK_CTORCH_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dfk_tensor dfk_tensor;

enum { DFK_T_FLOAT32 = 0, DFK_T_FLOAT16 = 1, DFK_T_INT64 = 2, DFK_T_BOOL = 3, DFK_T_UINT8 = 4, DFK_T_FLOAT64 = 5,
       DFK_T_BFLOAT16 = 6 };
// A device is its kind in the low byte and its index above: cuda:1 is DFK_DEV_CUDA | 1 << 8. "meta" tensors have
// shapes but no data (the tests use them to find tensors a module makes on the wrong device).
enum { DFK_DEV_CPU = 0, DFK_DEV_CUDA = 1, DFK_DEV_MPS = 2, DFK_DEV_META = 3 };

void dfk_torch_string_free(char *s);
void dfk_tensor_free(dfk_tensor *t);

// Runtime
void dfk_torch_set_threads(int n);
int dfk_torch_threads(void);
int dfk_torch_cuda_available(void);
int dfk_torch_cuda_device_count(void);
int dfk_torch_mps_available(void);
// Waits until the device's queued work has finished (no-op on the CPU).
int dfk_torch_synchronize(int device, char **err);
// Automatic mixed precision on this thread for a device kind: ops autocast eligible run in `dtype` (DFK_T_FLOAT16 or
// DFK_T_BFLOAT16). Nested regions restore what they found; clear_cache drops the weights cast inside a region.
int dfk_autocast_set(int device_kind, int enabled, int dtype, char **err);
int dfk_autocast_enabled(int device_kind);
void dfk_autocast_clear_cache(void);
const char *dfk_torch_version(void);
int dfk_torch_grad_enabled(void);
// Seeds libtorch's global generator (dropout, stochastic depth).
void dfk_torch_manual_seed(uint64_t seed);
void dfk_torch_set_grad_enabled(int on);

// Creation. `seed` >= 0 draws from a private generator seeded with it (reproducible); < 0 from the default one.
dfk_tensor *dfk_tensor_from_data(const void *data, int dtype, const int64_t *shape, int ndim, char **err);
dfk_tensor *dfk_tensor_full(const int64_t *shape, int ndim, double value, int dtype, int device, char **err);
dfk_tensor *dfk_tensor_randn(const int64_t *shape, int ndim, int64_t seed, int device, char **err);
dfk_tensor *dfk_tensor_rand(const int64_t *shape, int ndim, int64_t seed, int device, char **err);

// Information and data
int dfk_tensor_ndim(const dfk_tensor *t);
void dfk_tensor_shape(const dfk_tensor *t, int64_t *out);
int dfk_tensor_dtype(const dfk_tensor *t);
int dfk_tensor_device(const dfk_tensor *t);
int64_t dfk_tensor_numel(const dfk_tensor *t);
// Copies the values (converted to `dtype`) to `out`, which holds numel elements.
int dfk_tensor_copy_out(const dfk_tensor *t, int dtype, void *out, char **err);
dfk_tensor *dfk_tensor_to(const dfk_tensor *t, int dtype, int device, char **err);
// As dfk_tensor_to; non_blocking copies from pinned host memory overlap with the device's work.
dfk_tensor *dfk_tensor_to_async(const dfk_tensor *t, int dtype, int device, int non_blocking, char **err);
// A copy in page-locked host memory (fast, asynchronous copies to a GPU); the tensor itself without a GPU runtime.
dfk_tensor *dfk_tensor_pin_memory(const dfk_tensor *t, char **err);
dfk_tensor *dfk_tensor_clone(const dfk_tensor *t, char **err);
dfk_tensor *dfk_tensor_detach(const dfk_tensor *t, char **err);
// A new handle to the same tensor (shares storage and autograd identity).
dfk_tensor *dfk_tensor_share(const dfk_tensor *t);

// Element-wise. Binary ops: 0 add, 1 sub, 2 mul, 3 div, 4 pow, 5 maximum, 6 minimum, 7 eq, 8 lt, 9 gt, 10 le, 11 ge.
dfk_tensor *dfk_binary(int op, const dfk_tensor *a, const dfk_tensor *b, char **err);
dfk_tensor *dfk_binary_scalar(int op, const dfk_tensor *a, double s, char **err);
// Unary ops: 0 neg, 1 exp, 2 log, 3 sqrt, 4 abs, 5 relu, 6 relu6, 7 sigmoid, 8 tanh, 9 silu, 10 gelu, 11 square,
// 12 rsqrt, 13 sign, 14 floor, 15 softplus, 16 log_sigmoid, 17 reciprocal.
dfk_tensor *dfk_unary(int op, const dfk_tensor *a, char **err);
dfk_tensor *dfk_clamp(const dfk_tensor *a, double lo, double hi, char **err);
dfk_tensor *dfk_where(const dfk_tensor *cond, const dfk_tensor *a, const dfk_tensor *b, char **err);
// Reductions over `dims` (ndims 0: all): 0 sum, 1 mean, 2 max, 3 min, 4 var (unbiased), 5 std (unbiased), 6 var
// (biased), 7 argmax (one dim), 8 logsumexp.
dfk_tensor *dfk_reduce(int op, const dfk_tensor *a, const int64_t *dims, int ndims, int keepdim, char **err);
dfk_tensor *dfk_matmul(const dfk_tensor *a, const dfk_tensor *b, char **err);
// The L2 norm of all the tensors together, sqrt(sum of squares), as a float32 scalar on their device, computed
// without reading anything back to the host (SAM's gradient norm, gradient clipping).
dfk_tensor *dfk_global_norm(const dfk_tensor *const *ts, int n, char **err);

// Shape
dfk_tensor *dfk_reshape(const dfk_tensor *a, const int64_t *shape, int ndim, char **err);
dfk_tensor *dfk_permute(const dfk_tensor *a, const int64_t *dims, int ndim, char **err);
dfk_tensor *dfk_transpose(const dfk_tensor *a, int64_t d0, int64_t d1, char **err);
dfk_tensor *dfk_flatten(const dfk_tensor *a, int64_t start, int64_t end, char **err);
dfk_tensor *dfk_unsqueeze(const dfk_tensor *a, int64_t dim, char **err);
dfk_tensor *dfk_squeeze(const dfk_tensor *a, int64_t dim, char **err);
dfk_tensor *dfk_narrow(const dfk_tensor *a, int64_t dim, int64_t start, int64_t length, char **err);
dfk_tensor *dfk_index_select(const dfk_tensor *a, int64_t dim, const dfk_tensor *index, char **err);
dfk_tensor *dfk_cat(const dfk_tensor *const *ts, int n, int64_t dim, char **err);
dfk_tensor *dfk_stack(const dfk_tensor *const *ts, int n, int64_t dim, char **err);
dfk_tensor *dfk_expand(const dfk_tensor *a, const int64_t *shape, int ndim, char **err);
// Constant padding, (left, right, top, bottom, ...) as torch.nn.functional.pad.
dfk_tensor *dfk_pad(const dfk_tensor *a, const int64_t *pads, int npads, double value, char **err);

// Neural-network functions
dfk_tensor *dfk_conv2d(const dfk_tensor *x, const dfk_tensor *w, const dfk_tensor *b, const int64_t *stride,
                       const int64_t *padding, const int64_t *dilation, int64_t groups, char **err);
// running_mean / running_var may be NULL (then batch statistics are always used).
dfk_tensor *dfk_batch_norm(const dfk_tensor *x, const dfk_tensor *weight, const dfk_tensor *bias,
                           dfk_tensor *running_mean, dfk_tensor *running_var, int training, double momentum,
                           double eps, char **err);
dfk_tensor *dfk_linear(const dfk_tensor *x, const dfk_tensor *w, const dfk_tensor *b, char **err);
dfk_tensor *dfk_max_pool2d(const dfk_tensor *x, const int64_t *kernel, const int64_t *stride, const int64_t *padding,
                           int ceil_mode, char **err);
dfk_tensor *dfk_avg_pool2d(const dfk_tensor *x, const int64_t *kernel, const int64_t *stride, const int64_t *padding,
                           int ceil_mode, int count_include_pad, char **err);
dfk_tensor *dfk_adaptive_avg_pool2d(const dfk_tensor *x, int64_t oh, int64_t ow, char **err);
dfk_tensor *dfk_softmax(const dfk_tensor *x, int64_t dim, int log, char **err);
dfk_tensor *dfk_dropout(const dfk_tensor *x, double p, int training, char **err);
// Layer normalisation over the last `ndim` dims (normalized_shape); weight / bias may be NULL.
dfk_tensor *dfk_layer_norm(const dfk_tensor *x, const int64_t *normalized_shape, int ndim, const dfk_tensor *weight,
                           const dfk_tensor *bias, double eps, char **err);
// Stochastic depth ("drop path", timm / torchvision "row" mode): in training, each sample (first dim) is zeroed with
// probability p and survivors scaled by 1 / (1 - p) when scale_by_keep; the mask is drawn on x's device and dtype
// from the global generator. Identity when not training or p == 0.
dfk_tensor *dfk_drop_path(const dfk_tensor *x, double p, int training, int scale_by_keep, char **err);
// A contiguous copy in the given memory format (0 contiguous, 1 channels-last), or x itself when already so.
dfk_tensor *dfk_contiguous(const dfk_tensor *x, int channels_last, char **err);
// Losses. reduction: 0 none, 1 mean, 2 sum. weight may be NULL.
dfk_tensor *dfk_cross_entropy(const dfk_tensor *logits, const dfk_tensor *target, const dfk_tensor *class_weight,
                              int reduction, double label_smoothing, char **err);
dfk_tensor *dfk_bce_with_logits(const dfk_tensor *logits, const dfk_tensor *target, const dfk_tensor *weight,
                                const dfk_tensor *pos_weight, int reduction, char **err);
// Identity forward; backward multiplies the gradient by -alpha (gradient reversal layer).
dfk_tensor *dfk_grad_reverse(const dfk_tensor *x, double alpha, char **err);

// Autograd
int dfk_tensor_set_requires_grad(dfk_tensor *t, int on, char **err);
int dfk_tensor_requires_grad(const dfk_tensor *t);
int dfk_tensor_retain_grad(dfk_tensor *t, char **err);
// backward of `t` (a scalar unless `grad` is given). Backward and grad run with autocast off, as PyTorch advises.
int dfk_backward(const dfk_tensor *t, const dfk_tensor *grad, int retain_graph, char **err);
// The accumulated .grad of a leaf (or retained) tensor; NULL when there is none.
dfk_tensor *dfk_tensor_grad(const dfk_tensor *t);
int dfk_tensor_zero_grad(dfk_tensor *t);
// torch::autograd::grad. results[i] is NULL when inputs[i] is unused. grad_outputs may be NULL.
int dfk_autograd_grad(const dfk_tensor *const *outputs, int n_out, const dfk_tensor *const *inputs, int n_in,
                      const dfk_tensor *const *grad_outputs, int retain_graph, int create_graph,
                      dfk_tensor **results, char **err);

// In place (call under no-grad for parameters): t += alpha * other; t *= s; t = src; t = 0.
int dfk_add_inplace(dfk_tensor *t, const dfk_tensor *other, double alpha, char **err);
int dfk_mul_scalar_inplace(dfk_tensor *t, double s, char **err);
int dfk_mul_inplace(dfk_tensor *t, const dfk_tensor *other, char **err);
int dfk_copy_inplace(dfk_tensor *t, const dfk_tensor *src, char **err);
int dfk_zero_inplace(dfk_tensor *t, char **err);
// Replaces the tensor's data (device, dtype, shape) keeping its identity: how a module moves its parameters.
// (To or from the meta device the handle is given the new tensor: the same handle, a new autograd leaf.)
int dfk_set_data(dfk_tensor *t, const dfk_tensor *src, char **err);
// In-place ReLU (as nn.ReLU(inplace=True)); returns a handle to the same tensor.
dfk_tensor *dfk_relu_inplace(dfk_tensor *t, char **err);
// t = t * a + b * c (element-wise, b and c tensors): the optimisers' fused moment updates.
int dfk_addcmul_inplace(dfk_tensor *t, const dfk_tensor *b, const dfk_tensor *c, double value, char **err);
int dfk_addcdiv_inplace(dfk_tensor *t, const dfk_tensor *b, const dfk_tensor *c, double value, char **err);

#ifdef __cplusplus
}
#endif
// Data-parallel training (c10d): its own header, part of this module.
#include "CTorchDist.h"
#endif
