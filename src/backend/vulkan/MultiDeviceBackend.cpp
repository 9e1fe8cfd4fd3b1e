#include "backend/vulkan/MultiDeviceBackend.h"

#include <algorithm>
#include <numeric>

#include "config/Logger.h"

namespace vk_symbiote {

Expected<std::unique_ptr<MultiDeviceBackend>> MultiDeviceBackend::create(std::vector<std::unique_ptr<VulkanBackend>> parts,
                                                                         std::vector<double> speeds) {
    if (parts.size() < 2) return make_error(ErrorCode::InvalidArgument, "multi-device backend: needs at least two devices, got " + std::to_string(parts.size()));
    if (!speeds.empty() && speeds.size() != parts.size())
        return make_error(ErrorCode::InvalidArgument, "multi-device backend: " + std::to_string(speeds.size()) + " speeds for " + std::to_string(parts.size()) + " devices");
    if (speeds.empty()) speeds.assign(parts.size(), 1.0);
    return std::unique_ptr<MultiDeviceBackend>(new MultiDeviceBackend(std::move(parts), std::move(speeds)));
}

std::string MultiDeviceBackend::name() const {
    std::string s = "vulkan x" + std::to_string(parts_.size()) + " (";
    for (size_t d = 0; d < parts_.size(); ++d) s += (d ? ", " : "") + parts_[d]->device_name();
    return s + ")";
}

// Each device's weight: its VRAM budget times its speed; each layer's bytes from the registry.
Expected<std::vector<LayerRange>> MultiDeviceBackend::plan_ranges(const WeightProvider& weights) const {
    const ModelConfig& cfg = weights.config();
    std::vector<uint64> layer_bytes(cfg.n_layer, 0);
    uint64 head = 0;
    for (const TensorDesc& t : weights.registry().tensors()) {
        if (t.id.layer >= 0) layer_bytes[uint32(t.id.layer)] += t.byte_size;
        else if (t.id.role != TensorRole::TokenEmbd) head += t.byte_size;
    }
    std::vector<double> w(parts_.size());
    for (size_t d = 0; d < parts_.size(); ++d) w[d] = double(parts_[d]->vram_budget_bytes()) * speeds_[d];
    return split_layers(layer_bytes, head, w);
}

void MultiDeviceBackend::make_views(WeightProvider& weights) {
    views_.clear();
    auto retired = std::make_shared<LayerRangeProvider::RetiredSets>(parts_.size());
    for (uint32 d = 0; d < parts_.size(); ++d)
        views_.push_back(std::make_unique<LayerRangeProvider>(weights, ranges_[d].first, ranges_[d].count, retired, d));
}

ExpectedVoid MultiDeviceBackend::check_budget(const WeightProvider& weights, uint32 n_ctx, uint32 n_batch) {
    auto ranges = plan_ranges(weights);
    if (!ranges) return ranges.error();
    // The views only read the registry and config here; acquire is never called.
    WeightProvider& w = const_cast<WeightProvider&>(weights);
    for (uint32 d = 0; d < parts_.size(); ++d) {
        const LayerRangeProvider view(w, (*ranges)[d].first, (*ranges)[d].count);
        auto r = parts_[d]->check_budget(view, n_ctx, n_batch);
        if (!r) return make_error(r.error().code, "device " + std::to_string(d) + " (" + parts_[d]->device_name() + "), layers [" +
                                                      std::to_string((*ranges)[d].first) + ", " + std::to_string((*ranges)[d].first + (*ranges)[d].count) +
                                                      "): " + r.error().message);
    }
    return {};
}

ExpectedVoid MultiDeviceBackend::prepare(WeightProvider& weights, uint32 n_ctx, uint32 n_batch) {
    pool_.reset();
    own_ = KvBlockTable{};
    auto ranges = plan_ranges(weights);
    if (!ranges) return ranges.error();
    ranges_ = std::move(*ranges);
    make_views(weights);
    for (uint32 d = 0; d < parts_.size(); ++d) {
        auto r = parts_[d]->prepare(*views_[d], n_ctx, n_batch);
        if (!r) return make_error(r.error().code, "device " + std::to_string(d) + " (" + parts_[d]->device_name() + "), layers [" +
                                                      std::to_string(ranges_[d].first) + ", " + std::to_string(ranges_[d].first + ranges_[d].count) +
                                                      "): " + r.error().message);
    }
    n_embd_ = weights.config().n_embd;
    for (auto& x : xs_) x.assign(uint64(n_batch) * n_embd_, 0.0f);
    ids_.resize(n_batch);
    std::iota(ids_.begin(), ids_.end(), 0u);
    rows_in_.assign(parts_.size(), 0);
    make_pool();
    VKS_LOG_INFO("layers across " << parts_.size() << " devices: " << summary());
    return {};
}

// One pool when every device has one: the smallest device pool's blocks, each a block id of
// every device (the same geometry: block_positions is fixed, the layers are each device's).
void MultiDeviceBackend::make_pool() {
    uint32 blocks = UINT32_MAX;
    for (auto& p : parts_) {
        if (!p->kv_pool()) return;
        blocks = std::min(blocks, p->kv_pool()->n_blocks());
    }
    KvLayout layout = parts_.front()->kv_pool()->layout();
    layout.n_blocks = blocks;
    layout.n_layer = 0;
    for (auto& p : parts_) layout.n_layer += p->kv_pool()->layout().n_layer;
    std::vector<VulkanBackend*> parts;
    for (auto& p : parts_) parts.push_back(p.get());
    pool_.emplace(layout, [parts](uint32 src, uint32 dst, uint32 n) {
        for (VulkanBackend* p : parts) p->copy_kv_block(src, dst, n);
    }, 2);
}

ExpectedVoid MultiDeviceBackend::forward(const ForwardRequest& req) {
    if (views_.empty()) return make_error(ErrorCode::InvalidArgument, "multi-device forward: prepare() was not called");
    if (pool_) return forward_own(req);
    const uint32 D = uint32(parts_.size()), n = req.n_tokens;
    if (n > ids_.size()) return make_error(ErrorCode::InvalidArgument, "multi-device forward: n_tokens " + std::to_string(n) + " > n_batch " + std::to_string(ids_.size()));
    for (uint32 d = 0; d < D; ++d) {
        const bool last = d + 1 == D;
        if (d > 0) {
            views_[d]->set_input(xs_[(d - 1) % 2].data(), n);
            rows_in_[d] += uint64(n) * n_embd_ * 4;
        }
        const ForwardRequest r{d ? ids_.data() : req.tokens, n, req.pos, last ? req.all_logits : true, last ? req.logits : xs_[d % 2].data()};
        VKS_TRY(parts_[d]->forward(r));
    }
    return {};
}

ExpectedVoid MultiDeviceBackend::forward_own(const ForwardRequest& req) {
    if (req.pos > own_.n_pos)
        return make_error(ErrorCode::InvalidArgument, "multi-device forward: position " + std::to_string(req.pos) + " leaves a gap: the KV cache holds positions [0, " +
                                                          std::to_string(own_.n_pos) + ")");
    auto w = pool_->prepare_write(own_, req.pos, req.pos + req.n_tokens);
    if (!w) return make_error(ErrorCode::OutOfMemory, "multi-device forward: the KV pool cannot hold positions up to " + std::to_string(req.pos + req.n_tokens) +
                                                          " (" + w.error().message + "; raise --kv-pool-tokens)");
    return forward_batch({SeqChunk{&own_, req.tokens, req.n_tokens, req.pos, req.all_logits, req.logits}});
}

std::vector<SeqChunk> MultiDeviceBackend::part_chunks(uint32 d, const std::vector<SeqChunk>& chunks) {
    std::vector<SeqChunk> out = chunks;
    const bool last = d + 1 == parts_.size();
    uint64 row = 0;
    for (SeqChunk& c : out) {
        if (d > 0) c.tokens = ids_.data() + row;
        if (!last) {
            c.all_logits = true;
            c.logits = xs_[d % 2].data() + row * n_embd_;
        }
        row += c.n_tokens;
    }
    return out;
}

ExpectedVoid MultiDeviceBackend::forward_batch(const std::vector<SeqChunk>& chunks) {
    if (!pool_) return make_error(ErrorCode::Unsupported, name() + ": no paged KV cache on every device in this placement: one sequence at a time");
    uint64 rows = 0;
    for (const SeqChunk& c : chunks) rows += c.n_tokens;
    if (rows > ids_.size()) return make_error(ErrorCode::InvalidArgument, "multi-device forward_batch: " + std::to_string(rows) + " rows > n_batch " + std::to_string(ids_.size()));
    for (uint32 d = 0; d < parts_.size(); ++d) {
        if (d > 0) {
            views_[d]->set_input(xs_[(d - 1) % 2].data(), uint32(rows));
            rows_in_[d] += rows * n_embd_ * 4;
        }
        VKS_TRY(parts_[d]->forward_batch(part_chunks(d, chunks)));
    }
    return {};
}

void MultiDeviceBackend::reset() {
    for (auto& p : parts_) p->reset();
    if (pool_) pool_->release(own_);
}

}  // namespace vk_symbiote
