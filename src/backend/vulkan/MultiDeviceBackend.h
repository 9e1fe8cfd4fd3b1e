// MultiDeviceBackend: one model across several Vulkan devices (--devices 0,1). Each device is a
// VulkanBackend of its own over a contiguous range of layers (DeviceSplit: in proportion to the
// devices' VRAM budgets), seen through a LayerRangeProvider as a shallower model, so within a
// device the placement (resident, streamed, hybrid), the budget and the KV cache are exactly the
// one-device backend's. The first device embeds the tokens, the last one has the output norm
// and head. A pass runs the devices in order; between two devices the residual rows
// (n_tokens, n_embd) f32 go device -> host -> device once (the previous part's "logits" rows,
// the next part's "embedding" rows). Batched passes (forward_batch) chain the same way over one
// KV block pool whose block ids are valid on every device (the smallest device pool bounds it;
// a copy on write copies the block on every device). The devices run one after the other: no
// pipelining of a batch's halves across them yet. One caller at a time.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "backend/vulkan/VulkanBackend.h"
#include "memory/LayerRangeProvider.h"
#include "oracle/DeviceSplit.h"

namespace vk_symbiote {

class MultiDeviceBackend final : public Backend {
public:
    // parts: one backend per device, in layer order (device i computes range i), budgets set.
    // speeds: relative speed per device for the split (empty: equal).
    static Expected<std::unique_ptr<MultiDeviceBackend>> create(std::vector<std::unique_ptr<VulkanBackend>> parts,
                                                                std::vector<double> speeds = {});

    std::string name() const override;
    ExpectedVoid prepare(WeightProvider& weights, uint32 n_ctx, uint32 n_batch) override;
    // prepare()'s split and every device's placement alone (VulkanBackend::check_budget), the
    // error naming the device whose budget is too small.
    ExpectedVoid check_budget(const WeightProvider& weights, uint32 n_ctx, uint32 n_batch);
    ExpectedVoid forward(const ForwardRequest& req) override;
    void reset() override;
    uint32 n_ctx() const override { return parts_.front()->n_ctx(); }
    KvBlockPool* kv_pool() override { return pool_ ? &*pool_ : nullptr; }
    ExpectedVoid forward_batch(const std::vector<SeqChunk>& chunks) override;
    BackendStats stats() override;

    uint32 device_count() const { return uint32(parts_.size()); }
    VulkanBackend& part(uint32 d) { return *parts_.at(d); }
    const std::vector<LayerRange>& ranges() const { return ranges_; }
    // One line: each device's layers and placement (for logs and the engine's description).
    std::string summary() const;

private:
    MultiDeviceBackend(std::vector<std::unique_ptr<VulkanBackend>> parts, std::vector<double> speeds)
        : parts_(std::move(parts)), speeds_(std::move(speeds)) {}
    Expected<std::vector<LayerRange>> plan_ranges(const WeightProvider& weights) const;
    void make_views(WeightProvider& weights);
    void make_pool();
    // Part d's chunks: the first reads the tokens, later ones the rows of the part before
    // (ids_: row indices); all but the last write every row of x to xs_[d % 2].
    std::vector<SeqChunk> part_chunks(uint32 d, const std::vector<SeqChunk>& chunks);
    ExpectedVoid forward_own(const ForwardRequest& req);  // forward() in the shared pool

    std::vector<std::unique_ptr<VulkanBackend>> parts_;
    std::vector<double> speeds_;
    std::vector<LayerRange> ranges_;
    std::vector<std::unique_ptr<LayerRangeProvider>> views_;  // (devices) over prepare()'s provider
    std::optional<KvBlockPool> pool_;   // every part has a device pool: the one they share
    KvBlockTable own_;                  // forward()'s sequence in pool_
    std::vector<float> xs_[2];          // (n_batch, n_embd) residual rows between devices
    std::vector<uint32> ids_;           // (n_batch) 0, 1, ...: a later part's token ids
    std::vector<uint64> rows_in_;       // (devices) residual bytes copied into each device
    uint32 n_embd_ = 0;
};

}  // namespace vk_symbiote
