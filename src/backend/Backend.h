// Backend: one compute backend (CPU, Vulkan) with calm's three verbs:
// prepare (allocate KV cache and activations for a context size), forward (run a
// batch of tokens at consecutive positions through the model), and reset (empty the
// KV cache). A backend pulls weights from a WeightProvider; it owns its KV cache.
#pragma once

#include <memory>
#include <string>

#include "memory/WeightProvider.h"
#include "model/ModelConfig.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct ForwardRequest {
    const uint32* tokens = nullptr;  // [n_tokens]
    uint32 n_tokens = 0;
    uint32 pos = 0;                  // position of tokens[0]; KV cache holds [0, pos)
    bool all_logits = false;         // true: logits for every token; false: last token only
    float* logits = nullptr;         // out: [all_logits ? n_tokens : 1][n_vocab]
};

class Backend {
public:
    virtual ~Backend() = default;
    virtual std::string name() const = 0;
    // Allocates the KV cache for up to n_ctx positions and the activations for batches
    // of up to n_batch tokens.
    virtual ExpectedVoid prepare(WeightProvider& weights, uint32 n_ctx, uint32 n_batch) = 0;
    virtual ExpectedVoid forward(const ForwardRequest& req) = 0;
    // Empty the KV cache (a new sequence starts at position 0).
    virtual void reset() = 0;
    virtual uint32 n_ctx() const = 0;
};

}  // namespace vk_symbiote
