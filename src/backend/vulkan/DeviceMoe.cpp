#include "backend/vulkan/DeviceMoe.h"

#include <algorithm>
#include <bit>

#include "backend/cpu/MoeFfn.h"
#include "backend/vulkan/VramPlan.h"

namespace vk_symbiote {

namespace {

// Bytes of each buffer: logits, table, xg, yg, hg, args, slots, choices (in that order). A
// device-routed token keeps each expert's rows at its index: at least n_expert rows.
std::vector<uint64> buffer_bytes(const ModelConfig& c, uint32 n_batch) {
    const uint64 rows = std::max<uint64>(uint64(n_batch) * c.n_expert_used, c.n_expert);
    const uint64 slots = uint64(c.n_layer) * DeviceMoe::kSlotsPerExpert * c.n_expert * 16;
    return {uint64(n_batch) * c.n_expert * 4,
            uint64(n_batch) * c.n_expert_used * 3 * 4,
            rows * c.n_embd * 4,
            rows * c.n_embd * 4,
            rows * c.n_ff_expert * 4,
            slots,
            slots,
            uint64(c.n_layer) * c.n_expert_used * 4};
}

}  // namespace

uint64 DeviceMoe::device_bytes(const ModelConfig& cfg, uint32 n_batch, uint64 block) {
    if (!cfg.is_moe()) return 0;
    const std::vector<uint64> b = buffer_bytes(cfg, n_batch);
    uint64 sum = 0;
    for (size_t i = 0; i < 6; ++i) sum += vram_alloc_cost(b[i], block);  // the device-local ones (logits .. args)
    return sum;
}

uint64 DeviceMoe::host_bytes(const ModelConfig& cfg, uint32 n_batch) {
    if (!cfg.is_moe()) return 0;
    const std::vector<uint64> b = buffer_bytes(cfg, n_batch);
    return b[0] + b[1] + b[6] + b[7];
}

Expected<std::unique_ptr<DeviceMoe>> DeviceMoe::create(VulkanContext& ctx, const ModelConfig& cfg, uint32 n_batch) {
    std::unique_ptr<DeviceMoe> m(new DeviceMoe(cfg, n_batch));
    const std::vector<uint64> b = buffer_bytes(cfg, n_batch);
    auto mk = [&](DeviceBuffer& d, uint64 bytes, MemoryKind kind) -> ExpectedVoid {
        auto r = DeviceBuffer::create(ctx.mem, bytes, kind);
        if (!r) return r.error();
        d = std::move(*r);
        return {};
    };
    VKS_TRY(mk(m->logits, b[0], MemoryKind::DeviceLocal));
    VKS_TRY(mk(m->logits_rb, b[0], MemoryKind::HostReadback));
    VKS_TRY(mk(m->table, b[1], MemoryKind::DeviceLocal));
    VKS_TRY(mk(m->table_up, b[1], MemoryKind::HostStaging));
    VKS_TRY(mk(m->xg, b[2], MemoryKind::DeviceLocal));
    VKS_TRY(mk(m->yg, b[3], MemoryKind::DeviceLocal));
    VKS_TRY(mk(m->hg, b[4], MemoryKind::DeviceLocal));
    VKS_TRY(mk(m->args, b[5], MemoryKind::DeviceLocal));
    VKS_TRY(mk(m->slots, b[6], MemoryKind::HostStaging));
    VKS_TRY(mk(m->choices, b[7], MemoryKind::HostReadback));
    m->counts_.assign(cfg.n_expert, 0);
    return m;
}

const std::vector<uint32>& DeviceMoe::route(uint32 n) {
    const uint32 X = cfg_.n_expert, k = cfg_.n_expert_used;
    const float* lg = static_cast<const float*>(logits_rb.mapped());
    std::vector<cpu::ExpertChoice> ch(uint64(n) * k);
    std::fill(counts_.begin(), counts_.end(), 0u);
    for (uint32 t = 0; t < n; ++t) {
        cpu::ExpertChoice* c = ch.data() + uint64(t) * k;
        cpu::route_token(lg + uint64(t) * X, cfg_, c);
        // The CPU adds a token's expert outputs in ascending expert order: the combine does too.
        std::sort(c, c + k, [](const cpu::ExpertChoice& a, const cpu::ExpertChoice& b) { return a.expert < b.expert; });
        for (uint32 j = 0; j < k; ++j) ++counts_[c[j].expert];
    }
    // Rows grouped by expert (ascending), each expert's tokens ascending.
    experts_.clear();
    std::vector<uint32> next(X, 0);
    for (uint32 e = 0, row = 0; e < X; row += counts_[e], ++e) {
        next[e] = row;
        if (counts_[e] > 0) experts_.push_back({e, row, counts_[e]});
    }
    uint32* tb = static_cast<uint32*>(table_up.mapped());
    const uint32 pairs = combine_offset();
    for (uint32 t = 0; t < n; ++t)
        for (uint32 j = 0; j < k; ++j) {
            const cpu::ExpertChoice& c = ch[uint64(t) * k + j];
            const uint32 row = next[c.expert]++;
            tb[row] = t;
            tb[pairs + 2 * (t * k + j)] = row;
            tb[pairs + 2 * (t * k + j) + 1] = std::bit_cast<uint32>(c.weight);
        }
    table_words_ = pairs + 2 * n * k;
    return counts_;
}

void DeviceMoe::learn_choices(WeightProvider& weights) {
    const uint32 k = cfg_.n_expert_used;
    const uint32* ch = static_cast<const uint32*>(choices.mapped());
    for (uint32 l : device_routed_) {
        std::fill(counts_.begin(), counts_.end(), 0u);
        for (uint32 j = 0; j < k; ++j) ++counts_[std::min(ch[uint64(l) * k + j], cfg_.n_expert - 1)];
        weights.experts_routed(l, counts_, 1);
    }
    device_routed_.clear();
}

}  // namespace vk_symbiote
