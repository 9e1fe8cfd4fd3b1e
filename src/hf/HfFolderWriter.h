// HfFolderWriter: writes a Hugging Face model folder as transformers' save_pretrained lays it
// out: config.json, then the tensors in `model.safetensors`, or, when they exceed the shard
// size, in `model-0000k-of-0000n.safetensors` shards plus `model.safetensors.index.json`
// (metadata.total_size and the weight_map). Shards are filled in tensor order and a new one
// starts when the next tensor would pass the size (a tensor larger than the size gets a
// shard of its own), as transformers shards. Tensor bytes are streamed from fill callbacks.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/StreamedFileWriter.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct HfFolderTensor {
    std::string name;           // transformers' name
    DType dtype = DType::F32;
    std::vector<uint64> shape;  // row-major, outermost first
    TensorFillFn fill;          // row-major bytes
    uint64 byte_size() const;
};

// Which tensors go to which shard: indices into `sizes`, in order.
std::vector<std::vector<size_t>> plan_hf_shards(const std::vector<uint64>& sizes, uint64 max_shard_bytes);
// "model-00002-of-00005.safetensors" for shard k (0-based) of n.
std::string hf_shard_file_name(size_t k, size_t n);

// Writes config.json and the weights into `dir` (created if missing). `progress` sees the
// bytes of all weight files together.
ExpectedVoid write_hf_folder(const Path& dir, const nlohmann::json& config, const std::vector<HfFolderTensor>& tensors, uint64 max_shard_bytes,
                             const ProgressFn& progress = {});

}  // namespace vk_symbiote
