#include "backend/vulkan/DeviceVectors.h"

#include "common/HalfFloat.h"

namespace vk_symbiote {

namespace {

uint64 padded(uint64 n) { return (n + 3) / 4 * 4; }

}  // namespace

uint64 DeviceVectors::table_floats(const ModelConfig& cfg) {
    uint64 n = 0;
    for (const TensorDesc& d : TensorRegistry::expected_tensors(cfg))
        if (tensor_role_is_vector(d.id.role)) n += padded(d.rows * d.cols);
    return n;
}

ExpectedVoid DeviceVectors::upload(VulkanContext& ctx, WeightProvider& weights) {
    std::vector<float> table;
    offsets_.clear();
    for (const TensorDesc& d : weights.registry().tensors()) {
        if (!tensor_role_is_vector(d.id.role)) continue;
        auto h = weights.acquire(d.id);
        if (!h) return h.error();
        const WeightView& v = h->view();
        if (v.rows * v.cols != d.rows * d.cols)
            return make_error(ErrorCode::Format, "vulkan prepare: vector tensor '" + d.label() + "' arrived with " + std::to_string(v.rows * v.cols) +
                                                     " elements, expected " + std::to_string(d.rows * d.cols));
        const uint64 at = table.size();
        offsets_[{uint32(d.id.role), d.id.layer}] = uint32(at);
        table.resize(at + padded(d.rows * d.cols), 0.0f);
        for (const WeightSlice& s : v.slices)
            row_to_f32(v.dtype, static_cast<const uint8*>(s.data), table.data() + at + s.row_begin * v.cols, (s.row_end - s.row_begin) * v.cols);
    }
    auto b = DeviceBuffer::create(ctx.mem, std::max<uint64>(table.size(), 4) * 4, MemoryKind::DeviceLocal);
    if (!b) return b.error();
    buffer_ = std::move(*b);
    return table.empty() ? ExpectedVoid{} : ctx.compute.upload(table.data(), table.size() * 4, buffer_.buffer(), 0);
}

}  // namespace vk_symbiote
