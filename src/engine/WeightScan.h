// WeightScan: the first weight of a model that is not a finite number (NaN or ±Inf), in the
// per-token use order, so that a run whose values went non-finite can say which tensor and
// layer hold them. Reads every weight once: for the error path, not for every run.
#pragma once

#include <optional>
#include <string>

#include "model/TensorRegistry.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class ModelSource;

struct NonFiniteWeight {
    std::string tensor;  // e.g. "blk.1.ffn_down.weight"
    int32 layer = -1;    // -1: embedding, output norm or output
    uint64 element = 0;  // index in the tensor
    std::string describe() const;  // "tensor 'blk.1.ffn_down.weight' (layer 1), element 42"
};

// Errors: Io when a read fails.
Expected<std::optional<NonFiniteWeight>> first_non_finite_weight(const ModelSource& model, const TensorRegistry& registry);

}  // namespace vk_symbiote
