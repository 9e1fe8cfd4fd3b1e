#include "backend/vulkan/DeviceWeights.h"

#include "common/HalfFloat.h"

namespace vk_symbiote {

uint64 round_up(uint64 v, uint64 a) { return (v + a - 1) / a * a; }

bool tensor_on_device(TensorRole role) {
    if (role == TensorRole::TokenEmbd) return false;  // a tied output is the Output tensor (token_embd's bytes)
    return !tensor_role_is_vector(role) || role == TensorRole::AttnNorm || role == TensorRole::FfnNorm || role == TensorRole::OutputNorm;
}

void DeviceWeights::list(const WeightProvider& weights, const ModelConfig& cfg) {
    for (const auto& t : weights.registry().tensors()) {
        if (!tensor_on_device(t.id.role) || t.byte_size == 0) continue;
        const uint32 seg = t.id.layer >= 0 ? uint32(t.id.layer) : cfg.n_layer;
        tensors.push_back({t.id, t.rows, t.row_bytes(), seg, tensor_role_is_norm(t.id.role)});
    }
    std::stable_sort(tensors.begin(), tensors.end(), [](const VramTensor& a, const VramTensor& b) { return a.segment < b.segment; });
    seg_bytes.assign(cfg.n_layer + 1, 0);
    seg_expert_bytes.assign(cfg.n_layer + 1, 0);
    n_expert = cfg.n_expert;
    experts.assign(uint64(cfg.n_layer) * n_expert, {});
    for (size_t i = 0; i < tensors.size(); ++i) {
        const VramTensor& t = tensors[i];
        seg_bytes[t.segment] += t.rows * t.row_bytes;
        if (t.id.expert < 0) continue;
        seg_expert_bytes[t.segment] += t.rows * t.row_bytes;
        experts[uint64(t.segment) * cfg.n_expert + uint32(t.id.expert)].push_back(i);
    }
}

void DeviceWeights::mark_streamed(uint32 n_segments) {
    streamed.assign(n_segments, {});
    for (uint32 seg = 0; seg < n_segments; ++seg)
        for (size_t i = 0; i < tensors.size(); ++i)
            if (tensors[i].segment == seg && !plan.tensors[i].resident) streamed[seg].push_back(i);
}

void DeviceWeights::view_streamed(const WeightProvider& weights, const WeightStreamRing& ring) {
    uint32 k = 0;
    for (const auto& seg_tensors : streamed) {
        if (seg_tensors.empty()) continue;
        const VkBuffer slot = ring.slot_buffer(k++ % plan.slots);
        for (size_t i : seg_tensors) {
            const VramTensor& t = tensors[i];
            const TensorDesc* d = weights.registry().find(t.id);
            DeviceWeight dw{d->dtype, uint32(t.rows), uint32(t.row_bytes / dtype_size(d->dtype)), {}};
            for (const VramPiece& pc : plan.tensors[i].pieces)
                dw.pieces.push_back({slot, uint32(pc.row_begin), uint32(pc.rows), pc.slot_offset, round_up(pc.rows * t.row_bytes, 4)});
            views[key(t.id)] = std::move(dw);
        }
    }
}

ExpectedVoid DeviceWeights::upload_resident(VulkanContext& ctx, WeightProvider& weights, size_t ti, uint64& uploaded) {
    const VramTensor& t = tensors[ti];
    auto h = weights.acquire(t.id);
    if (!h) return h.error();
    const WeightView& v = h->view();
    DeviceWeight dw{v.dtype, uint32(v.rows), uint32(v.cols), {}};
    for (const VramPiece& pc : plan.tensors[ti].pieces) {
        auto b = DeviceBuffer::create(ctx.mem, pc.rows * t.row_bytes, MemoryKind::DeviceLocal);
        if (!b) return b.error();
        const VkBuffer buf = b->buffer();
        resident_.push_back(std::move(*b));
        VKS_TRY(for_each_overlap(v.slices, {pc}, [&](const WeightSlice& s, const VramPiece&, uint64 r0, uint64 r1) {
            const auto* src = static_cast<const char*>(s.data) + (r0 - s.row_begin) * t.row_bytes;
            return ctx.compute.upload(src, (r1 - r0) * t.row_bytes, buf, (r0 - pc.row_begin) * t.row_bytes);
        }));
        dw.pieces.push_back({buf, uint32(pc.row_begin), uint32(pc.rows), 0, 0});
        uploaded += pc.rows * t.row_bytes;
    }
    views[key(t.id)] = std::move(dw);
    return {};
}

FusedNorm DeviceWeights::fused_norm(const ModelConfig& cfg, TensorRole role, uint32 layer) const {
    return vectors.norm(TensorId{role, role == TensorRole::OutputNorm ? -1 : int32(layer)}, cfg.rms_eps);
}

void DeviceWeights::bind_slot(uint32 seg, VkBuffer slot) {
    for (size_t i : streamed[seg])
        for (auto& pc : views[key(tensors[i].id)].pieces) pc.buffer = slot;
}

void DeviceWeights::bind_expert(uint32 layer, uint32 expert, VkBuffer buffer, uint64 base) {
    for (size_t i : experts[uint64(layer) * n_expert + expert]) {
        DeviceWeight& v = views[key(tensors[i].id)];
        for (size_t j = 0; j < v.pieces.size(); ++j) {
            v.pieces[j].buffer = buffer;
            v.pieces[j].offset = base + plan.tensors[i].pieces[j].slot_offset;
        }
    }
}

const DeviceWeight* DeviceWeights::find(TensorId id) const {
    auto it = views.find(key(id));
    return it == views.end() ? nullptr : &it->second;
}

uint32 DeviceWeights::streamed_layer_count(uint32 n_layer) const {
    uint32 n = 0;
    for (uint32 l = 0; l < n_layer && l < streamed.size(); ++l) n += !streamed[l].empty();
    return n;
}

}  // namespace vk_symbiote
