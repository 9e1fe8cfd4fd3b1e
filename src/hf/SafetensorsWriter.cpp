#include "hf/SafetensorsWriter.h"

#include <nlohmann/json.hpp>

#include "hf/SafetensorsFile.h"

namespace vk_symbiote {

void SafetensorsWriter::add_tensor(const std::string& name, DType dtype, std::vector<uint64> shape, TensorFillFn fill) {
    uint64 n = dtype_size(dtype);
    for (uint64 d : shape) n *= d;
    tensors_.push_back(Tensor{name, dtype, std::move(shape), n, std::move(fill)});
}

std::string SafetensorsWriter::header() const {
    nlohmann::json h = nlohmann::json::object();
    if (!metadata_.empty()) h["__metadata__"] = metadata_;
    uint64 pos = 0;
    for (const auto& t : tensors_) {
        h[t.name] = {{"dtype", safetensors_dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {pos, pos + t.byte_size}}};
        pos += t.byte_size;
    }
    std::string s = h.dump();
    s.resize((s.size() + 7) / 8 * 8, ' ');
    return s;
}

uint64 SafetensorsWriter::data_bytes() const {
    uint64 n = 0;
    for (const auto& t : tensors_) n += t.byte_size;
    return n;
}

ExpectedVoid SafetensorsWriter::write(const Path& path, const ProgressFn& progress) const {
    const std::string h = header();
    uint8 len[8];
    for (int k = 0; k < 8; ++k) len[k] = uint8(uint64(h.size()) >> (8 * k));
    auto w = StreamedFileWriter::create(path, 8 + h.size() + data_bytes(), progress);
    if (!w) return w.error();
    VKS_TRY((*w)->put(len, 8));
    VKS_TRY((*w)->put(reinterpret_cast<const uint8*>(h.data()), h.size()));
    for (const auto& t : tensors_) VKS_TRY((*w)->fill(t.byte_size, t.fill, "tensor '" + t.name + "'"));
    return (*w)->commit();
}

}  // namespace vk_symbiote
