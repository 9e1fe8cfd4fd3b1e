#include "backend/vulkan/DmaStream.h"

#include <cstring>

namespace vk_symbiote {

ExpectedVoid DmaStream::import_streamed(VulkanContext& ctx, WeightProvider& weights, const DeviceWeights& w) {
    const uint64 align = ctx.dev.caps().min_imported_host_pointer_alignment;
    seg_copies.assign(w.streamed.size(), {});
    feed_copies.assign(w.streamed.size(), {});
    tensor_copies.assign(w.tensors.size(), {});
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
                    const WeightStreamRing::SourceCopy c{
                        buf, VkBufferCopy{(r0 - sl.row_begin) * t.row_bytes, pc.slot_offset + (r0 - pc.row_begin) * t.row_bytes, (r1 - r0) * t.row_bytes}};
                    seg_copies[seg].push_back(c);
                    (routed(t) ? tensor_copies[i] : feed_copies[seg]).push_back(c);
                    return {};
                }));
            }
        }
    return {};
}

ExpectedVoid DmaStream::feed(FeedTarget& t, uint32 seg, uint32 s) {
    std::vector<PlacedTensor> dense;
    for (size_t i : t.w.streamed[seg])
        if (!routed(t.w.tensors[i])) dense.push_back({i, 0});
    // Only experts stream (the dense part is resident): nothing to upload before the router, so
    // no wait for the slot's last readers here (feed_experts waits for them).
    if (dense.empty()) {
        t.w.bind_slot(seg, t.ring.slot_buffer(s));
        return {};
    }
    auto host = t.ring.acquire_slot(s);
    if (!host) return host.error();
    if (zero_copy) {
        VKS_TRY(t.ring.upload_from(s, feed_copies[seg]));
    } else {
        auto ranges = fill_slot(t.ctx, t.weights, t.w, dense, *host);
        if (!ranges) return ranges.error();
        // A dense segment in one copy, as it lies in the slot; a mixture's its tensors' ranges.
        if (dense.size() == t.w.streamed[seg].size()) VKS_TRY(t.ring.upload(s, t.w.plan.segment_stream_bytes[seg]));
        else VKS_TRY(t.ring.upload_ranges(s, *ranges));
    }
    t.w.bind_slot(seg, t.ring.slot_buffer(s));
    return {};
}

ExpectedVoid DmaStream::feed_experts(FeedTarget& t, uint32 seg, uint32 s, const std::vector<PlacedTensor>& tensors) {
    if (tensors.empty()) return {};
    for (const PlacedTensor& p : tensors)
        if (t.w.tensors[p.tensor].segment != seg || !routed(t.w.tensors[p.tensor]))
            return make_error(ErrorCode::Internal, "DmaStream::feed_experts: tensor " + std::to_string(p.tensor) + " is no expert of segment " + std::to_string(seg));
    auto host = t.ring.acquire_slot(s);
    if (!host) return host.error();
    if (zero_copy) {
        std::vector<WeightStreamRing::SourceCopy> copies;
        for (const PlacedTensor& p : tensors)
            for (WeightStreamRing::SourceCopy c : tensor_copies[p.tensor]) {
                c.region.dstOffset += p.place;
                copies.push_back(c);
            }
        return t.ring.upload_from(s, copies);
    }
    // One expert matrix pinned at a time: a RAM budget sized for the CPU path's (which holds
    // one expert's matrices at a time) holds it.
    std::vector<VkBufferCopy> ranges;
    for (const PlacedTensor& p : tensors) {
        auto r = fill_slot(t.ctx, t.weights, t.w, {p}, *host);
        if (!r) return r.error();
        ranges.insert(ranges.end(), r->begin(), r->end());
    }
    return t.ring.upload_ranges(s, ranges);
}

uint64 DmaStream::prepared_bytes() const {
    uint64 b = 0;
    if (pre_seg >= 0)
        for (const auto& c : feed_copies[uint32(pre_seg)]) b += c.region.size;
    return b;
}

Expected<std::vector<VkBufferCopy>> DmaStream::fill_slot(VulkanContext& ctx, WeightProvider& weights, const DeviceWeights& w,
                                                         const std::vector<PlacedTensor>& tensors, void* staging) {
    struct Copy {
        const char* src;
        char* dst;
        uint64 bytes;
    };
    std::vector<WeightHandle> pins;
    std::vector<Copy> copies;
    std::vector<VkBufferCopy> ranges;
    for (const PlacedTensor& p : tensors) {
        const VramTensor& t = w.tensors[p.tensor];
        auto h = weights.acquire(t.id);
        if (!h) return h.error();
        VKS_TRY(for_each_overlap(h->view().slices, w.plan.tensors[p.tensor].pieces, [&](const WeightSlice& s, const VramPiece& pc, uint64 r0, uint64 r1) -> ExpectedVoid {
            const uint64 dst = p.place + pc.slot_offset + (r0 - pc.row_begin) * t.row_bytes;
            copies.push_back({static_cast<const char*>(s.data) + (r0 - s.row_begin) * t.row_bytes, static_cast<char*>(staging) + dst, (r1 - r0) * t.row_bytes});
            ranges.push_back({dst, dst, (r1 - r0) * t.row_bytes});
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
    return ranges;
}

}  // namespace vk_symbiote
