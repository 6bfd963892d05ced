// Device tags for the op kernel templates, and the CPU work-splitting rule.
#ifndef DETECT_CSRC_COMMON_DEVICES_H_
#define DETECT_CSRC_COMMON_DEVICES_H_

#include <algorithm>
#include <functional>

#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/platform/threadpool.h"

namespace detect {

struct CpuTag {};  // kernels in *_kernels.cc
struct GpuTag {};  // kernels in *_gpu.cc, launchers in *_cuda.cu

// Runs fn(begin, end) over [0, total) on TensorFlow's intra-op thread pool.
// cost_per_unit is a rough count of cycles per unit of work.
inline void CpuParallelFor(::tensorflow::OpKernelContext* ctx, int64_t total,
                           int64_t cost_per_unit,
                           const std::function<void(int64_t, int64_t)>& fn) {
  if (total <= 0) return;
  auto* workers = ctx->device()->tensorflow_cpu_worker_threads()->workers;
  workers->ParallelFor(total, std::max<int64_t>(cost_per_unit, 1), fn);
}

// The CPU backward kernels scatter into the feature gradient. To stay
// deterministic without atomics, each worker owns a block of channels and
// walks all RoIs in order, so every cell sums its terms in one fixed order.
// About two blocks per thread, each a multiple of 8 channels (one AVX
// register of floats) and at least 32 where C allows, keeps the inner loops
// long and the per-RoI geometry cheap next to them.
struct ChannelBlocks {
  int64_t size, count;
  ChannelBlocks(::tensorflow::OpKernelContext* ctx, int64_t channels) {
    const int64_t threads = std::max<int64_t>(
        ctx->device()->tensorflow_cpu_worker_threads()->num_threads, 1);
    int64_t want = (channels + 2 * threads - 1) / (2 * threads);
    want = (want + 7) / 8 * 8;
    size = std::min<int64_t>(std::max<int64_t>(channels, 1),
                             std::max<int64_t>(want, 32));
    count = (channels + size - 1) / size;
  }
};

}  // namespace detect

#endif  // DETECT_CSRC_COMMON_DEVICES_H_
