// ProjectJob: one weight projection of the CPU forward pass, y[t][r] = W[r] . x[t] for n
// tokens, W the tensor `id` as the WeightProvider serves it (row slices, file dtype).
// CpuBackend runs lists of them (project_all); the mixture-of-experts FFN (MoeFfn) hands
// its router and expert projections to it through a ProjectFn.
#pragma once

#include <functional>
#include <vector>

#include "model/TensorRegistry.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote::cpu {

struct ProjectJob {
    TensorId id;
    uint64 rows, cols;  // the tensor's shape (checked against what the provider serves)
    const float* x;     // (n, cols), row stride x_stride floats
    uint64 x_stride;
    uint32 n;
    float* y;           // (n, rows), row stride y_stride floats; columns [0, min(rows, row_end)) written
    uint64 y_stride;
    uint64 row_end = ~uint64(0);
};

// Runs independent projections (each job's weights acquired, computed, released).
using ProjectFn = std::function<ExpectedVoid(const std::vector<ProjectJob>& jobs)>;

}  // namespace vk_symbiote::cpu
