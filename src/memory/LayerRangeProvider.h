// LayerRangeProvider: one device's part of a model split across devices, as a model of its own
// (MultiDeviceBackend). It presents layers [first, first + count) of the wrapped provider's
// model as layers [0, count) of a shallower one: config() and registry() say so, tensor ids are
// mapped to the whole model's on the way in and back on the way out, and the hints reach the
// wrapped provider (so its oracle sees the real layers). The first part embeds tokens; a later
// part's inputs are the previous part's residual rows, set by set_input() before each pass
// (token id i of the pass names row i). Only the last part has the output head; the others end
// at the residual stream (ModelConfig::head). Not thread-safe: one backend reads it at a time.
#pragma once

#include <memory>
#include <vector>

#include "memory/WeightProvider.h"

namespace vk_symbiote {

class LayerRangeProvider final : public WeightProvider {
public:
    // Each part's retired tensors (whole-model ids), shared by the parts of one split: the
    // wrapped provider keeps one set, so every part's retire() hands it the union.
    using RetiredSets = std::vector<std::vector<TensorId>>;
    // The wrapped provider outlives this one. Requires first + count <= its n_layer, count > 0;
    // `retired` (optional) has an entry `part` for this part.
    LayerRangeProvider(WeightProvider& whole, uint32 first, uint32 count, std::shared_ptr<RetiredSets> retired = nullptr, uint32 part = 0);

    const ModelConfig& config() const override { return cfg_; }
    const TensorRegistry& registry() const override { return reg_; }
    Expected<WeightHandle> acquire(TensorId id) override;
    // The first part: the wrapped provider's row of `token`. A later part: row `token` of the
    // input set by set_input(), a copy of n_embd floats.
    ExpectedVoid embedding_row(uint32 token, float* out) override;
    void hint_upcoming(const std::vector<TensorId>& ids) override;
    void on_experts_routed(uint32 layer, const std::vector<uint32>& tokens_per_expert, uint32 n_tokens) override;
    void retire(const std::vector<TensorId>& ids) override;
    bool stable_host_memory() const override { return whole_.stable_host_memory(); }
    uint64 page_alignment() const override { return whole_.page_alignment(); }
    ProviderStats stats() const override { return whole_.stats(); }

    // A later part's input rows for the next pass: (n_rows, n_embd) f32, held by the caller
    // until the pass is done.
    void set_input(const float* rows, uint32 n_rows) {
        input_ = rows;
        input_rows_ = n_rows;
    }
    uint32 first_layer() const { return first_; }

private:
    TensorId to_whole(TensorId id) const;
    std::vector<TensorId> to_whole(const std::vector<TensorId>& ids) const;

    WeightProvider& whole_;
    const uint32 first_;
    ModelConfig cfg_;
    TensorRegistry reg_;
    std::shared_ptr<RetiredSets> retired_;
    const uint32 part_;
    const float* input_ = nullptr;  // (input_rows_, n_embd), later parts only
    uint32 input_rows_ = 0;
};

}  // namespace vk_symbiote
