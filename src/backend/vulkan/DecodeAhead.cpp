#include "backend/vulkan/DecodeAhead.h"

#include <algorithm>

#include "backend/vulkan/ModelBuffers.h"

namespace vk_symbiote {

namespace {

Expected<DeviceBuffer> make(VulkanContext& ctx, uint64 bytes, MemoryKind kind, const char* what) {
    auto b = DeviceBuffer::create(ctx.mem, bytes, kind);
    if (!b) return make_error(b.error().code, std::string("decode ahead: ") + what + ": " + b.error().message);
    return b;
}

}  // namespace

Expected<std::unique_ptr<DecodeAhead>> DecodeAhead::create(VulkanContext& ctx, WeightProvider& weights, const ModelConfig& cfg, uint64 rows_bytes) {
    std::unique_ptr<DecodeAhead> a(new DecodeAhead(cfg));
    auto table = make(ctx, table_bytes(cfg), MemoryKind::DeviceLocal, "embedding table");
    if (!table) return table.error();
    a->table_ = std::move(*table);
    auto ids = make(ctx, 16, MemoryKind::DeviceLocal, "token id");
    if (!ids) return ids.error();
    a->ids_ = std::move(*ids);
    auto ids_rb = make(ctx, 16, MemoryKind::HostReadback, "token id readback");
    if (!ids_rb) return ids_rb.error();
    a->ids_rb_ = std::move(*ids_rb);
    auto up = make(ctx, std::max<uint64>(rows_bytes, 4), MemoryKind::HostStaging, "rows image staging");
    if (!up) return up.error();
    a->rows_up = std::move(*up);
    auto rb = make(ctx, uint64(cfg.n_vocab) * 4, MemoryKind::HostReadback, "logits readback");
    if (!rb) return rb.error();
    a->logits_rb = std::move(*rb);
    VKS_TRY(a->upload_table(ctx, weights, cfg));
    return a;
}

// embedding_input of every token, a few MiB per upload.
ExpectedVoid DecodeAhead::upload_table(VulkanContext& ctx, WeightProvider& weights, const ModelConfig& cfg) {
    const uint64 row_bytes = uint64(cfg.n_embd) * 4;
    const uint32 per = uint32(std::max<uint64>(1, (uint64(4) << 20) / row_bytes));
    std::vector<float> rows(size_t(per) * cfg.n_embd);
    for (uint32 t0 = 0; t0 < cfg.n_vocab; t0 += per) {
        const uint32 n = std::min(per, cfg.n_vocab - t0);
        for (uint32 i = 0; i < n; ++i) VKS_TRY(embedding_input(weights, cfg, t0 + i, rows.data() + size_t(i) * cfg.n_embd));
        VKS_TRY(ctx.compute.upload(rows.data(), n * row_bytes, table_.buffer(), t0 * row_bytes));
    }
    return {};
}

ExpectedVoid DecodeAhead::record_embed(OpContext& c, VkBuffer x) const {
    auto pl = op_pipeline(c, Kernel::EmbedRow, DType::F32);
    if (!pl) return pl.error();
    auto b = op_bindings(c);
    b[2].buffer = table_.buffer();
    b[3].buffer = x;
    b[6].buffer = ids_.buffer();
    auto set = c.rt.make_descriptor_set(b);
    if (!set) return set.error();
    gpu::DecodeAheadParams p{n_embd_, 0, 0, 0};
    c.rt.push_constants(&p, sizeof p);
    const auto s = c.rt.effective(c.spec);
    const uint32 wg = s.workgroup_size_x * s.workgroup_size_y;
    c.rt.dispatch_compute(*pl, *set, (n_embd_ + wg - 1) / wg);
    return {};
}

ExpectedVoid DecodeAhead::record_argmax(OpContext& c, WeightStreamRing& ring, VkBuffer logits, uint32 bank) const {
    auto pl = op_pipeline(c, Kernel::Argmax, DType::F32);
    if (!pl) return pl.error();
    auto b = op_bindings(c);
    b[2].buffer = logits;
    b[6].buffer = ids_.buffer();
    auto set = c.rt.make_descriptor_set(b);
    if (!set) return set.error();
    gpu::DecodeAheadParams p{n_vocab_, 0, 0, 0};
    c.rt.barrier();  // the head wrote the logits
    c.rt.push_constants(&p, sizeof p);
    c.rt.dispatch_compute(*pl, *set, 1);
    return ring.record_copy_out(ids_.buffer(), ids_rb_.buffer(), 4, 0, uint64(bank) * 4);
}

}  // namespace vk_symbiote
