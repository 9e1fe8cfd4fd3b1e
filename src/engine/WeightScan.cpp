#include "engine/WeightScan.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "common/HalfFloat.h"
#include "gguf/ModelSource.h"

namespace vk_symbiote {

namespace {

// Index of the first non-finite value of `n` elements of `dt` at `p`, or n.
uint64 first_non_finite(const uint8* p, uint64 n, DType dt) {
    for (uint64 i = 0; i < n; ++i) {
        float v = 0;
        if (dt == DType::F32) {
            std::memcpy(&v, p + 4 * i, 4);
        } else {
            uint16 h = 0;
            std::memcpy(&h, p + 2 * i, 2);
            v = dt == DType::F16 ? f16_to_f32(h) : bf16_to_f32(h);
        }
        if (!std::isfinite(v)) return i;
    }
    return n;
}

}  // namespace

std::string NonFiniteWeight::describe() const {
    return "tensor '" + tensor + "'" + (layer >= 0 ? " (layer " + std::to_string(layer) + ")" : "") + ", element " + std::to_string(element);
}

Expected<std::optional<NonFiniteWeight>> first_non_finite_weight(const ModelSource& model, const TensorRegistry& registry) {
    constexpr uint64 kChunk = uint64(4) << 20;  // bytes read at a time
    std::vector<uint8> buf;
    for (const TensorDesc& t : registry.tensors()) {
        const uint64 esize = dtype_size(t.dtype);
        for (uint64 at = 0; at < t.byte_size; at += kChunk) {
            const uint64 n = std::min(kChunk, t.byte_size - at) / esize * esize;
            buf.resize(n);
            VKS_TRY(model.read_range(t.file_offset + at, n, buf.data()));
            const uint64 bad = first_non_finite(buf.data(), n / esize, t.dtype);
            if (bad < n / esize) return std::optional<NonFiniteWeight>(NonFiniteWeight{t.name, t.id.layer, at / esize + bad});
        }
    }
    return std::optional<NonFiniteWeight>();
}

}  // namespace vk_symbiote
