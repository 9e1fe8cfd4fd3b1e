// GGUFLoader: parses a GGUF v2/v3 file's header (metadata key/values and the tensor
// table) and serves ranged reads of tensor data. The file is hostile input: every
// length, count, offset and dimension is checked before use, and each failure is a
// typed Error naming the file and the field. Tensor data is never read at open();
// callers ask for byte ranges (pread) so the whole model is never in memory.
//
// Thread-safety: after open() the object is immutable; read_range() uses pread and
// may be called from several threads at once.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/ReadOnlyFile.h"
#include "gguf/ModelSource.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct GGUFOpenOptions {
    // Quantized tensors are an error by default; vocabulary-only use (tokenize) may
    // accept any tensor table because no tensor data is touched.
    bool allow_quantized = false;
};

class GGUFLoader final : public ModelSource {
public:
    static Expected<std::unique_ptr<GGUFLoader>> open(const Path& path, GGUFOpenOptions opts = {});
    GGUFLoader(const GGUFLoader&) = delete;
    GGUFLoader& operator=(const GGUFLoader&) = delete;

    const Path& path() const override { return file_->path(); }
    uint32 version() const { return version_; }
    uint64 file_size() const override { return file_->size(); }
    uint64 alignment() const { return alignment_; }
    uint64 data_offset() const { return data_offset_; }
    Expected<std::vector<uint8>> header_bytes() const override;  // the bytes before the data section
    std::vector<SourceFile> files() const override { return {SourceFile{file_->path(), 0, file_->size(), file_->fd()}}; }

    const std::map<std::string, GGUFValue>& metadata() const override { return kv_; }

    // Tensor table (file order)
    const std::vector<GGUFTensorInfo>& tensors() const override { return tensors_; }
    const GGUFTensorInfo* find_tensor(const std::string& name) const override;

    // Ranged reads of tensor data (absolute file offsets). Fails with Io if the file
    // got shorter or the read is short (file truncated while running).
    ExpectedVoid read_range(uint64 file_offset, uint64 size, void* dst) const override;

    // Check the file is still the one we opened (size unchanged); used by the I/O path.
    ExpectedVoid check_unchanged() const override;
    int fd() const { return file_->fd(); }

private:
    GGUFLoader() = default;
    ExpectedVoid parse(const GGUFOpenOptions& opts);

    std::unique_ptr<ReadOnlyFile> file_;  // the open file (never null after open())
    uint32 version_ = 0;
    uint64 alignment_ = 32;
    uint64 data_offset_ = 0;
    std::map<std::string, GGUFValue> kv_;
    std::vector<GGUFTensorInfo> tensors_;
    std::map<std::string, size_t> tensor_index_;
};

// Limits applied to hostile input (all far above any real model).
struct GGUFLimits {
    static constexpr uint64 kMaxDims = 4;               // GGML_MAX_DIMS
    static constexpr uint64 kMaxDim = uint64(1) << 40;  // one dimension
    static constexpr uint64 kMaxStringLen = uint64(1) << 30;
    static constexpr uint64 kMaxArrayDepth = 4;
    static constexpr uint64 kMaxAlignment = 1 << 20;
    // Memory the parsed metadata may take (strings, array elements as stored in
    // GGUFValue). Counts in the header are checked against the bytes left in the file,
    // but a big model file has gigabytes "left" after the header, and an element takes
    // more memory than file bytes (an empty nested array: 12 bytes on disk, ~200 in
    // memory); real headers need a few MiB.
    static constexpr uint64 kMaxMetadataBytes = uint64(1) << 30;
};

}  // namespace vk_symbiote
