#include "backend/vulkan/RowsSplit.h"

#include <algorithm>

#include "config/Logger.h"

namespace vk_symbiote {

namespace {

uint8 phase_of(TensorRole r) {
    switch (r) {
        case TensorRole::Wo: return 1;
        case TensorRole::Wgate: case TensorRole::Wup: case TensorRole::Output: return 2;
        case TensorRole::Wdown: return 3;
        default: return 0;  // Q / K / V
    }
}

}  // namespace

// The fewest KV heads whose GPU rows fit half a slot in segments [first, last].
uint32 RowsSplit::fewest_heads(uint32 first, uint32 last) const {
    uint32 m = 0;
    for (; m < cfg_.n_head_kv; ++m) {
        bool fits = true;
        for (uint32 seg = first; seg <= last && fits; ++seg)
            if (w_.streams(seg)) fits = gpu_bytes(seg, m) <= ring_.half_slot_bytes();
        if (fits) break;
    }
    return m;
}

void RowsSplit::choose() {
    const uint32 G = cfg_.n_head_kv;
    using PU = VulkanOptions::PromptUpload;
    using RH = VulkanOptions::RowsHead;
    const auto& caps = dev_.caps();
    shader = opt_.rows_upload == PU::Shader || (opt_.rows_upload == PU::Auto && caps.vendor_id == 0x10DE && !caps.is_cpu);
    // With pieces (DMA only) the head is split unless asked for on the CPU (or it cannot fit),
    // with its own minimum, so that a large output matrix does not raise every layer's share.
    head_min_heads = 0;
    const bool head_streams = w_.streams(cfg_.n_layer);
    if (pieces) {
        min_cpu_heads = fewest_heads(0, cfg_.n_layer - 1);
        const uint32 hm = fewest_heads(cfg_.n_layer, cfg_.n_layer);
        head_cpu = head_streams && (opt_.rows_head == RH::Cpu || hm >= G);
        head_min_heads = head_cpu ? 0 : hm;
    } else {
        min_cpu_heads = fewest_heads(0, cfg_.n_layer);
        head_cpu = head_streams && (opt_.rows_head == RH::Cpu || (opt_.rows_head == RH::Auto && shader));
    }
    enabled = std::max(min_cpu_heads, head_min_heads) < G;  // at n_head_kv every row is the CPU's: the layer split does that
    head_cpu = head_cpu && enabled;
    side = enabled ? std::make_unique<SideThread>() : nullptr;
}

uint32 RowsSplit::cpu_rows(TensorRole role, uint32 m) const {
    const uint32 G = cfg_.n_head_kv, group = cfg_.n_head / G, hd = cfg_.head_dim;
    switch (role) {
        case TensorRole::Wq: return m * group * hd;
        case TensorRole::Wk:
        case TensorRole::Wv: return m * hd;
        case TensorRole::Wo:
        case TensorRole::Wdown: return uint32(uint64(cfg_.n_embd) * m / G);
        case TensorRole::Wgate:
        case TensorRole::Wup: return uint32(uint64(cfg_.n_ff) * m / G);
        case TensorRole::Output: return uint32(uint64(cfg_.n_vocab) * std::max(m, head_min_heads) / G);
        default: return 0;
    }
}

uint32 RowsSplit::split_index(uint32 kv_heads) const {
    return std::min(cfg_.n_head_kv - 1, std::max(kv_heads, min_cpu_heads)) - min_cpu_heads;
}

uint32 RowsSplit::piece_of(TensorRole role) {
    switch (role) {
        case TensorRole::Wgate: case TensorRole::Wup: case TensorRole::Output: return 1;
        case TensorRole::Wdown: return 2;
        default: return 0;  // Q / K / V and Wo
    }
}

uint64 RowsSplit::gpu_bytes(uint32 seg, uint32 m) const {
    const uint64 align = std::max<uint64>(256, dev_.caps().min_storage_buffer_offset_alignment);
    std::array<uint64, kPieces> b{};  // per piece (without pieces: all in b[0])
    for (size_t i : w_.streamed[seg]) {
        const VramTensor& t = w_.tensors[i];
        const uint64 piece = (t.rows - std::min<uint64>(t.rows, cpu_rows(t.id.role, m))) * t.row_bytes;
        if (piece > dev_.caps().max_storage_buffer_range) return ~uint64(0);  // one piece per tensor
        b[pieces ? piece_of(t.id.role) : 0] += round_up(piece, align);
    }
    return *std::max_element(b.begin(), b.end());
}

// Batched passes: piece p of split segment seg (its streamed tensors of piece_of == p) gets the
// next index k and lies from offset 0 of half (k + parity) % 2; one DMA copy per imported range.
void RowsSplit::layout_pieces() {
    const uint64 align = std::max<uint64>(256, dev_.caps().min_storage_buffer_offset_alignment);
    piece_order.assign(cfg_.n_layer + 1, {-1, -1, -1});
    piece_copies.clear();
    piece_segment.clear();
    pieces_.clear();
    // copy.comp binds both ends at the copied offsets (as add_copies checks for whole segments).
    const uint64 sc_align = std::max<uint64>(dev_.caps().min_storage_buffer_offset_alignment, 16);
    piece_shader_ok = true;
    auto shader_ok = [&](const VkBufferCopy& r) {
        for (uint32 h = 0; h < 2; ++h)
            if ((ring_.slot_offset(uint32(ring_.half_slot(0, h))) + r.dstOffset) % sc_align != 0) return false;
        return r.srcOffset % sc_align == 0 && r.size % 16 == 0;
    };
    for (uint32 seg = 0; seg <= cfg_.n_layer; ++seg) {
        if (!w_.streams(seg) || cpu_segment(seg)) continue;
        for (uint32 p = 0; p < kPieces; ++p) {
            uint64 off = 0;
            std::vector<WeightStreamRing::SourceCopy> copies;
            for (size_t i : w_.streamed[seg]) {
                const VramTensor& t = w_.tensors[i];
                if (piece_of(t.id.role) != p) continue;
                const uint64 r0 = std::min<uint64>(t.rows, cpu_rows(t.id.role)), bytes = (t.rows - r0) * t.row_bytes;
                pieces_[{uint32(t.id.role), t.id.layer}] = WeightPiece{VK_NULL_HANDLE, uint32(r0), uint32(t.rows - r0), off, round_up(bytes, 4)};
                for (const DmaStream::ImportedRows& im : dma_.tensor_imports[i]) {
                    const uint64 a = std::max(r0, im.row_begin), e = im.row_end;
                    if (a >= e) continue;
                    copies.push_back({im.buffer, VkBufferCopy{(a - im.row_begin) * t.row_bytes, off + (a - r0) * t.row_bytes, (e - a) * t.row_bytes}});
                    piece_shader_ok = piece_shader_ok && shader_ok(copies.back().region);
                }
                off += round_up(bytes, align);
            }
            if (off == 0) continue;
            piece_order[seg][p] = int32(piece_copies.size());
            piece_copies.push_back(std::move(copies));
            piece_segment.push_back(seg);
        }
    }
}

void RowsSplit::layout() {
    if (pieces) return layout_pieces();
    const uint64 align = std::max<uint64>(256, dev_.caps().min_storage_buffer_offset_alignment);
    order.assign(cfg_.n_layer + 1, -1);
    ahead = false;  // rows copied ahead were laid out for the old share
    copies.assign(cfg_.n_layer + 1, {});
    copy_phase.assign(cfg_.n_layer + 1, {});
    pieces_.clear();
    bool shader_ok = true;
    uint32 j = 0;
    for (uint32 seg = 0; seg <= cfg_.n_layer; ++seg) {
        if (!w_.streams(seg) || cpu_segment(seg)) continue;
        const uint32 h = uint32(ring_.half_slot(0, j % 2));  // both halves start 256-byte aligned
        order[seg] = int32(j++);
        uint64 off = 0;
        for (size_t i : w_.streamed[seg]) {
            const VramTensor& t = w_.tensors[i];
            const uint64 r0 = std::min<uint64>(t.rows, cpu_rows(t.id.role)), bytes = (t.rows - r0) * t.row_bytes;
            pieces_[{uint32(t.id.role), t.id.layer}] = WeightPiece{ring_.slot_buffer(h), uint32(r0), uint32(t.rows - r0), off, round_up(bytes, 4)};
            shader_ok = add_copies(seg, i, r0, off, h) && shader_ok;
            off += round_up(bytes, align);
        }
    }
    if (shader && !shader_ok) {
        VKS_LOG_INFO("rows split: DMA uploads (a streamed piece is not " << std::max<uint64>(dev_.caps().min_storage_buffer_offset_alignment, 16)
                                                                         << "-byte aligned for shader copies)");
        shader = false;
    }
}

bool RowsSplit::add_copies(uint32 seg, size_t i, uint64 r0, uint64 off, uint32 h) {
    // Shader copies bind both ends at the copied offsets (storage-buffer offset alignment,
    // sizes a multiple of 16); a layout that breaks that streams by DMA.
    const uint64 sc_align = std::max<uint64>(dev_.caps().min_storage_buffer_offset_alignment, 16);
    // The head's rows are copied during all four exchanges of the layer before, in shares of
    // a layer's bytes per exchange, so that no exchange's copies outlast its CPU part.
    const double share[4] = {0.25, 0.08, 0.45, 0.22};
    const VramTensor& t = w_.tensors[i];
    bool ok = true;
    for (const DmaStream::ImportedRows& im : dma_.tensor_imports[i]) {
        const uint64 a = std::max(r0, im.row_begin), e = im.row_end;
        if (a >= e) continue;
        const VkBufferCopy r{(a - im.row_begin) * t.row_bytes, off + (a - r0) * t.row_bytes, (e - a) * t.row_bytes};
        uint64 done = 0;
        for (uint8 ph = 0; ph < 4; ++ph) {
            if (t.id.role != TensorRole::Output && ph != phase_of(t.id.role)) continue;
            uint64 part = r.size - done;
            if (t.id.role == TensorRole::Output && ph < 3) part = std::min(part, uint64(double(r.size) * share[ph]) / 256 * 256);
            if (part == 0) continue;
            const VkBufferCopy pr{r.srcOffset + done, r.dstOffset + done, part};
            copies[seg].push_back({im.buffer, pr});
            copy_phase[seg].push_back(ph);
            ok = ok && pr.srcOffset % sc_align == 0 && (ring_.slot_offset(h) + pr.dstOffset) % sc_align == 0 && pr.size % 16 == 0;
            done += part;
        }
    }
    return ok;
}

DeviceWeight RowsSplit::gpu_part(TensorRole role, int32 layer, uint32 half) const {
    DeviceWeight d = w_.at(role, layer);
    d.row_begin = cpu_rows(role);
    if (auto it = pieces_.find({uint32(role), layer}); it != pieces_.end()) {
        d.pieces = {it->second};
        d.pieces[0].buffer = ring_.slot_buffer(half);
        d.pieces[0].offset += ring_.slot_offset(half);
    }
    return d;  // resident: its own pieces, computed from row_begin on
}

}  // namespace vk_symbiote
