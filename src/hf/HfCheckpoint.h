// HfCheckpoint: the weights of a Hugging Face folder: `model.safetensors`, or the shards
// that `model.safetensors.index.json` names in its `weight_map`. Opening parses every
// shard's header and checks the index against the shards (a shard missing, a tensor the
// index places in a shard that lacks it, a tensor present in two shards: each an error
// naming the files and the tensor); tensor data is never read at open, so a folder is never
// loaded whole.
//
// One address space over all shards, as if they were concatenated: shard k's bytes start at
// shard_base(k), the end of shard k-1 rounded up to kShardAlign, so a single 64-bit offset
// names a byte of the checkpoint, an offset keeps its alignment inside its file (O_DIRECT
// reads align down to 4 KiB), and no tensor spans two shards. Everything above the
// reader that stores one file offset per tensor or pack slice can keep doing so.
//
// Thread-safety: immutable after open(); read_range() may be called from several threads.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hf/SafetensorsFile.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct HfTensor {
    std::string name;           // transformers' name, e.g. "model.layers.0.self_attn.q_proj.weight"
    DType dtype = DType::F32;
    std::vector<uint64> shape;  // as stored, row-major: shape[0] outermost
    uint32 shard = 0;           // index into the checkpoint's shards
    uint64 offset = 0;          // in the checkpoint's address space: shard_base(shard) + file offset
    uint64 byte_size = 0;
    uint64 n_elements = 0;

    uint64 cols() const { return shape.empty() ? 1 : shape.back(); }
    uint64 rows() const { return cols() ? n_elements / cols() : 0; }
};

class HfCheckpoint {
public:
    static constexpr uint64 kShardAlign = uint64(1) << 20;
    static constexpr const char* kSingleFile = "model.safetensors";
    static constexpr const char* kIndexFile = "model.safetensors.index.json";
    static constexpr uint64 kMaxShards = 4096;

    // `path`: a folder; or a .safetensors file in one (a shard the folder's index names opens
    // the whole sharded checkpoint; any other file is a one-file checkpoint); or the index.
    // In a folder model.safetensors is preferred to the index, as transformers does.
    static Expected<std::unique_ptr<HfCheckpoint>> open(const Path& path);

    const Path& folder() const { return folder_; }
    // Where the tensor list came from: the index file, or the one .safetensors file.
    const Path& source() const { return source_; }
    size_t shard_count() const { return shards_.size(); }
    const SafetensorsFile& shard(uint32 k) const { return *shards_[k]; }
    uint64 shard_base(uint32 k) const { return bases_[k]; }
    // End of the address space: shard_base of a shard after the last one.
    uint64 address_end() const { return bases_.empty() ? 0 : bases_.back() + shards_.back()->file_size(); }

    // Every tensor, in shard order then file order.
    const std::vector<HfTensor>& tensors() const { return tensors_; }
    const HfTensor* find(const std::string& name) const;
    uint64 total_bytes() const;  // sum of the tensors' byte sizes

    // `size` bytes at checkpoint offset `offset`; the range must lie inside one shard file.
    ExpectedVoid read_range(uint64 offset, uint64 size, void* dst) const;
    Expected<std::vector<uint8>> read_tensor(const std::string& name) const;
    // Every shard still has the size it had at open().
    ExpectedVoid check_unchanged() const;

private:
    HfCheckpoint() = default;
    ExpectedVoid open_shards(const std::vector<std::string>& files);
    ExpectedVoid check_index(const std::map<std::string, std::string>& weight_map) const;
    ExpectedVoid collect_tensors();

    Path folder_;
    Path source_;
    std::vector<std::unique_ptr<SafetensorsFile>> shards_;
    std::vector<uint64> bases_;  // shard_base of each shard
    std::vector<HfTensor> tensors_;
    std::map<std::string, size_t> index_;
};

}  // namespace vk_symbiote
