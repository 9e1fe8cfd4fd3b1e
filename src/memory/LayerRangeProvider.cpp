#include "memory/LayerRangeProvider.h"

#include <cstring>
#include <limits>
#include <memory>

namespace vk_symbiote {

namespace {

// The whole model's config narrowed to layers [first, first + count).
ModelConfig part_config(const ModelConfig& whole, uint32 first, uint32 count) {
    ModelConfig c = whole;
    c.first_layer = whole.first_layer + first;
    c.n_layer = count;
    if (!c.sliding.empty()) c.sliding.assign(whole.sliding.begin() + first, whole.sliding.begin() + first + count);
    c.embeds = whole.embeds && first == 0;
    c.head = whole.head && first + count == whole.n_layer;
    if (!c.embeds) {
        c.embd_scale = 1.0f;  // the rows are the residual stream, already scaled by the first part
        c.n_input_ids = std::numeric_limits<uint32>::max();  // row indices; embedding_row checks them
    } else {
        c.n_input_ids = whole.input_ids();
    }
    if (!c.head) {
        c.n_vocab = c.n_embd;  // the pass's "logits" rows are x
        c.final_softcap = 0.0f;
    }
    return c;
}

}  // namespace

LayerRangeProvider::LayerRangeProvider(WeightProvider& whole, uint32 first, uint32 count, std::shared_ptr<RetiredSets> retired, uint32 part)
    : whole_(whole),
      first_(first),
      cfg_(part_config(whole.config(), first, count)),
      reg_(TensorRegistry::layer_range(whole.registry(), first, count, cfg_.embeds, cfg_.head)),
      retired_(std::move(retired)),
      part_(part) {
    VKS_CHECK(count > 0 && first + count <= whole.config().n_layer, "LayerRangeProvider: layers [" + std::to_string(first) + ", " +
                                                                       std::to_string(first + count) + ") outside the model's " +
                                                                       std::to_string(whole.config().n_layer));
}

TensorId LayerRangeProvider::to_whole(TensorId id) const {
    if (id.layer >= 0) id.layer += int32(first_);
    return id;
}

std::vector<TensorId> LayerRangeProvider::to_whole(const std::vector<TensorId>& ids) const {
    std::vector<TensorId> out;
    out.reserve(ids.size());
    for (const TensorId& id : ids) out.push_back(to_whole(id));
    return out;
}

Expected<WeightHandle> LayerRangeProvider::acquire(TensorId id) {
    if (!reg_.find(id))
        return make_error(ErrorCode::InvalidArgument, "layer range [" + std::to_string(first_) + ", " + std::to_string(first_ + cfg_.n_layer) +
                                                          "): tensor " + tensor_label(id) + " is not in this device's part of the model");
    auto h = whole_.acquire(to_whole(id));
    if (!h) return h.error();
    // The view with this part's id; the wrapped pin is released with the returned handle.
    auto pin = std::make_shared<WeightHandle>(std::move(*h));
    WeightView v = pin->view();
    v.id = id;
    return WeightHandle(std::move(v), [pin] { pin->reset(); });
}

ExpectedVoid LayerRangeProvider::embedding_row(uint32 token, float* out) {
    if (cfg_.embeds) return whole_.embedding_row(token, out);
    if (!input_ || token >= input_rows_)
        return make_error(ErrorCode::InvalidArgument, "layer range from " + std::to_string(first_) + ": input row " + std::to_string(token) +
                                                          " of a pass with " + std::to_string(input_rows_) + " rows from the previous device");
    std::memcpy(out, input_ + uint64(token) * cfg_.n_embd, uint64(cfg_.n_embd) * 4);
    return {};
}

void LayerRangeProvider::hint_upcoming(const std::vector<TensorId>& ids) { whole_.hint_upcoming(to_whole(ids)); }

void LayerRangeProvider::on_experts_routed(uint32 layer, const std::vector<uint32>& tokens_per_expert, uint32 n_tokens) {
    whole_.experts_routed(layer + first_, tokens_per_expert, n_tokens);
}

void LayerRangeProvider::retire(const std::vector<TensorId>& ids) {
    if (!retired_ || part_ >= retired_->size()) return whole_.retire(to_whole(ids));
    (*retired_)[part_] = to_whole(ids);
    std::vector<TensorId> all;
    for (const auto& set : *retired_) all.insert(all.end(), set.begin(), set.end());
    whole_.retire(all);
}

}  // namespace vk_symbiote
