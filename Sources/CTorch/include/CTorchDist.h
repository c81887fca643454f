// CTorchDist: data-parallel training over libtorch's own c10d (ProcessGroupGloo on CPU, ProcessGroupNCCL on CUDA
// when CTorch is built with USE_C10D_NCCL), rendezvous over a TCPStore (torchrun's MASTER_ADDR / MASTER_PORT).
// Conventions as CTorch.h: opaque handles, `char **err` last, no C++ exception crosses this boundary.
#ifndef DFK_CTORCH_DIST_H
#define DFK_CTORCH_DIST_H

#include "CTorch.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct dfk_dist dfk_dist;

enum { DFK_DIST_GLOO = 0, DFK_DIST_NCCL = 1 };

// Whether this libtorch has the backend (NCCL: built with USE_C10D_NCCL and CUDA present).
int dfk_dist_backend_available(int backend);

// Joins the process group: rank 0 serves the TCPStore on master_port, every rank connects to master_addr. Every
// collective (and the rendezvous itself) fails after timeout_s seconds instead of waiting for a dead peer.
dfk_dist *dfk_dist_init(const char *master_addr, int master_port, int rank, int world, int backend, double timeout_s,
                        char **err);
void dfk_dist_free(dfk_dist *d);
int dfk_dist_rank(const dfk_dist *d);
int dfk_dist_world(const dfk_dist *d);

// Sum all-reduce of the tensors in place (average != 0: divided by the world size), flattened into buckets of at
// most bucket_bytes per dtype and device (as DDP's gradient buckets), all buckets in flight at once.
int dfk_dist_allreduce(dfk_dist *d, dfk_tensor *const *ts, int n, int average, int64_t bucket_bytes, char **err);
// Copies root's values of the tensors into every rank's (in place, under no-grad).
int dfk_dist_broadcast(dfk_dist *d, dfk_tensor *const *ts, int n, int root, char **err);
int dfk_dist_barrier(dfk_dist *d, char **err);

// Gradient synchronisation as DistributedDataParallel: a post-hook on each parameter's gradient accumulator notes
// that a backward pass accumulates into it; when the autograd engine finishes that pass, the .grad of every
// parameter that has one is all-reduced and averaged (bucketed). So every backward() of a step (each pass of SAM,
// PIM or RoGA) leaves identical, averaged gradients on all ranks; torch::autograd::grad calls (gradients returned,
// not accumulated) are left local. A failed all-reduce makes that backward() fail. Replaces an earlier attachment.
int dfk_dist_attach_grad_sync(dfk_dist *d, dfk_tensor *const *params, int n, int64_t bucket_bytes, char **err);
void dfk_dist_detach_grad_sync(dfk_dist *d);
// Totals since init: all-reduce calls (one per bucketed call), bytes reduced (per rank), seconds spent waiting.
void dfk_dist_stats(const dfk_dist *d, int64_t *calls, int64_t *bytes, double *seconds);

#ifdef __cplusplus
}
#endif
#endif
