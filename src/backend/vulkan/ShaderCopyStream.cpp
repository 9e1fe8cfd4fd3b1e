#include "backend/vulkan/ShaderCopyStream.h"

#include "config/Logger.h"

namespace vk_symbiote {

namespace {

int32 group_of(TensorRole r) {
    switch (r) {
        case TensorRole::Wq: case TensorRole::Wk: case TensorRole::Wv: return kCopyQkv;
        case TensorRole::Wo: return kCopyO;
        case TensorRole::Wgate: case TensorRole::Wup: case TensorRole::Router: case TensorRole::ExpGate: case TensorRole::ExpUp: return kCopyGateUp;
        case TensorRole::Wdown: case TensorRole::ExpDown: return kCopyDown;
        case TensorRole::Output: return kCopyQkv;  // the head's one group
        default: return -1;
    }
}

}  // namespace

ExpectedVoid ShaderCopyStream::setup(const VulkanContext& ctx, const ModelConfig& cfg, const DeviceWeights& w, const DmaStream& dma) {
    using PU = VulkanOptions::PromptUpload;
    enabled_ = false;
    // A mixture of experts' streamed experts take turns in the slots' expert places once routed
    // (mid-layer): its prompts stream by DMA.
    if (!dma.zero_copy || w.plan.slots == 0 || w.plan.expert_places > 0) return {};
    const auto& caps = ctx.dev.caps();
    const bool want = ctx.opt.prompt_upload == PU::Shader || (ctx.opt.prompt_upload == PU::Auto && caps.vendor_id == 0x10DE && !caps.is_cpu);
    if (!want) return {};
    // copy.comp binds source and destination at the copied offsets: both must meet the
    // storage-buffer offset alignment, sizes a multiple of 16 (true for real models); else DMA.
    const uint64 align = std::max<uint64>(caps.min_storage_buffer_offset_alignment, 16);
    const uint32 L = cfg.n_layer;
    std::vector<int32> slot_of(L + 1, -1);
    for (uint32 seg = 0, k = 0; seg <= L; ++seg)
        if (w.streams(seg)) slot_of[seg] = int32(k++ % w.plan.slots);
    list_reads(cfg, w, slot_of);
    copies_.clear();
    slot_copies_.clear();
    for (uint32 seg = 0; seg <= L; ++seg)
        for (const auto& sc : dma.seg_copies[seg]) {
            if (sc.region.srcOffset % align || sc.region.dstOffset % align || sc.region.size % 16) {
                VKS_LOG_INFO("prompt streaming: DMA uploads (a streamed piece is not " << align << "-byte aligned for shader copies)");
                return {};
            }
            const uint64 b = uint64(slot_of[seg]) * w.plan.slot_bytes + sc.region.dstOffset;
            const CopyRange dst{b, b + sc.region.size};
            slot_copies_.push_back({consumer(seg, L, dst), dst, uint32(copies_.size())});
            copies_.push_back({sc.src, sc.region.srcOffset, uint32(slot_of[seg]), sc.region.dstOffset, seg});
        }
    enabled_ = true;
    VKS_LOG_INFO("prompt streaming: shader copies beside the weight kernels (" << copies_.size() << " pieces per pass)");
    return {};
}

void ShaderCopyStream::list_reads(const ModelConfig& cfg, const DeviceWeights& w, const std::vector<int32>& slot_of) {
    const uint32 L = cfg.n_layer;
    groups_.assign(copy_group(L, kCopyQkv) + 1, {});
    for (size_t i = 0; i < w.tensors.size(); ++i) {
        const VramTensor& t = w.tensors[i];
        const int32 part = group_of(t.id.role);
        if (part < 0) continue;
        const uint32 g = copy_group(t.segment, t.segment < L ? CopyPart(part) : kCopyQkv);
        groups_[g].weight_bytes += t.rows * t.row_bytes;
        if (!w.plan.tensors[i].resident)
            for (const VramPiece& pc : w.plan.tensors[i].pieces) {
                const uint64 b = uint64(slot_of[t.segment]) * w.plan.slot_bytes + pc.slot_offset;
                groups_[g].reads.push_back({b, b + pc.rows * t.row_bytes});
            }
    }
}

uint32 ShaderCopyStream::consumer(uint32 seg, uint32 L, const CopyRange& dst) const {
    const uint32 first = copy_group(seg, kCopyQkv), last = seg < L ? copy_group(seg, kCopyDown) : first;
    for (uint32 g = first; g <= last; ++g)
        for (const CopyRange& r : groups_[g].reads)
            if (r.begin < dst.end && dst.begin < r.end) return g;
    return last;
}

ExpectedVoid ShaderCopyStream::feed(FeedTarget& t, uint32 seg, uint32 slot) {
    t.w.bind_slot(seg, t.ring.slot_buffer(slot));
    return {};
}

void ShaderCopyStream::begin_pass(const VulkanOptions& opt, bool skip_first) {
    schedule(opt, skip_first ? 1 : 0);
    active_ = skip_first ? 1 : 0;
}

const StreamCopySchedule& ShaderCopyStream::schedule(const VulkanOptions& opt, uint32 which) {
    auto& s = schedules_[which];
    if (s) return *s;
    // 16 MiB chunks by default: ~0.3 ms on a PCIe 5 bus, small beside one layer's kernels.
    const uint64 chunk = opt.copy_chunk_bytes ? round_up(opt.copy_chunk_bytes, 256) : uint64(16) << 20;
    std::vector<SlotCopy>& copies = schedule_copies_[which];
    copies = slot_copies_;
    if (which == 1 && !copies.empty()) {
        const uint32 first = copies_[copies[0].source].segment;
        std::erase_if(copies, [&](const SlotCopy& c) { return copies_[c.source].segment == first; });
    }
    s = std::make_unique<StreamCopySchedule>(groups_, copies, chunk, opt.copy_budget_scale > 0 ? opt.copy_budget_scale : 1.0);
    VKS_LOG_DEBUG("prompt copy schedule" << (which == 1 ? " (first segment uploaded ahead)" : "") << ": " << s->total_bytes() << " bytes, "
                                         << s->unoverlapped_bytes() << " behind a barrier");
    return *s;
}

ExpectedVoid ShaderCopyStream::record(OpContext& c, uint32 group, const WeightStreamRing& ring, uint32 workgroups, uint64& copied) {
    if (active_ < 0) return {};
    const StreamCopySchedule& sched = *schedules_[active_];
    const auto& is = sched.before(group);
    const auto& copies = schedule_copies_[active_];
    const uint32 forced = sched.forced(group);
    for (size_t i = 0; i < is.size(); ++i) {
        const ShaderCopy& sc = copies_[copies[is[i].copy].source];
        VKS_TRY(op_copy(c, sc.src, sc.src_offset + is[i].offset, ring.slot_buffer(sc.slot), sc.dst_offset + is[i].offset, is[i].bytes, workgroups));
        copied += is[i].bytes;
        if (i + 1 == forced) c.rt.barrier();  // these are read by the group itself
    }
    return {};
}

}  // namespace vk_symbiote
