#include "backend/vulkan/DmaStream.h"

#include <cstring>

namespace vk_symbiote {

ExpectedVoid DmaStream::import_streamed(VulkanContext& ctx, WeightProvider& weights, const DeviceWeights& w) {
    const uint64 align = ctx.dev.caps().min_imported_host_pointer_alignment;
    seg_copies.assign(w.streamed.size(), {});
    tensor_imports.assign(w.tensors.size(), {});
    for (uint32 seg = 0; seg < w.streamed.size(); ++seg)
        for (size_t i : w.streamed[seg]) {
            const VramTensor& t = w.tensors[i];
            auto h = weights.acquire(t.id);
            if (!h) return h.error();
            for (const auto& sl : h->view().slices) {
                const uint64 bytes = (sl.row_end - sl.row_begin) * t.row_bytes;
                auto b = DeviceBuffer::import(ctx.mem, const_cast<void*>(sl.data), (bytes + align - 1) / align * align);
                if (!b) return b.error();
                const VkBuffer buf = b->buffer();
                imports_.push_back(std::move(*b));
                tensor_imports[i].push_back({buf, sl.row_begin, sl.row_end});
                VKS_TRY(for_each_overlap({sl}, w.plan.tensors[i].pieces, [&](const WeightSlice&, const VramPiece& pc, uint64 r0, uint64 r1) -> ExpectedVoid {
                    seg_copies[seg].push_back(
                        {buf, VkBufferCopy{(r0 - sl.row_begin) * t.row_bytes, pc.slot_offset + (r0 - pc.row_begin) * t.row_bytes, (r1 - r0) * t.row_bytes}});
                    return {};
                }));
            }
        }
    return {};
}

ExpectedVoid DmaStream::feed(FeedTarget& t, uint32 seg, uint32 s) {
    auto host = t.ring.acquire_slot(s);
    if (!host) return host.error();
    if (zero_copy) {
        VKS_TRY(t.ring.upload_from(s, seg_copies[seg]));
    } else {
        VKS_TRY(fill_slot(t.ctx, t.weights, t.w, seg, *host));
        VKS_TRY(t.ring.upload(s, t.w.plan.segment_stream_bytes[seg]));
    }
    t.w.bind_slot(seg, t.ring.slot_buffer(s));
    return {};
}

uint64 DmaStream::prepared_bytes() const {
    uint64 b = 0;
    if (pre_seg >= 0)
        for (const auto& c : seg_copies[uint32(pre_seg)]) b += c.region.size;
    return b;
}

ExpectedVoid DmaStream::fill_slot(VulkanContext& ctx, WeightProvider& weights, const DeviceWeights& w, uint32 seg, void* staging) {
    struct Copy {
        const char* src;
        char* dst;
        uint64 bytes;
    };
    std::vector<WeightHandle> pins;
    std::vector<Copy> copies;
    for (size_t i : w.streamed[seg]) {
        const VramTensor& t = w.tensors[i];
        auto h = weights.acquire(t.id);
        if (!h) return h.error();
        VKS_TRY(for_each_overlap(h->view().slices, w.plan.tensors[i].pieces, [&](const WeightSlice& s, const VramPiece& pc, uint64 r0, uint64 r1) -> ExpectedVoid {
            copies.push_back({static_cast<const char*>(s.data) + (r0 - s.row_begin) * t.row_bytes,
                              static_cast<char*>(staging) + pc.slot_offset + (r0 - pc.row_begin) * t.row_bytes, (r1 - r0) * t.row_bytes});
            return {};
        }));
        pins.push_back(std::move(*h));
    }
    // Chunks of at most 4 MiB so that the threads balance.
    constexpr uint64 kChunk = uint64(4) << 20;
    std::vector<Copy> chunks;
    for (const Copy& c : copies)
        for (uint64 o = 0; o < c.bytes; o += kChunk) chunks.push_back({c.src + o, c.dst + o, std::min(kChunk, c.bytes - o)});
    ctx.copy_pool.run(uint32(chunks.size()), [&](uint32 task, uint32) { std::memcpy(chunks[task].dst, chunks[task].src, chunks[task].bytes); });
    return {};
}

}  // namespace vk_symbiote
