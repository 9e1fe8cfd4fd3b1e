// SafetensorsFile: one .safetensors file as hostile input. Layout: an 8-byte little-endian
// header length N, N bytes of JSON ({"__metadata__": {str: str}, "<tensor>": {"dtype",
// "shape", "data_offsets": [begin, end]}, ...}), then the data section, whose byte ranges
// the tensors must tile exactly (no gap, no overlap, nothing after the last tensor).
// Everything is checked against the file before use: header length past the end of the
// file or over the 100 MB cap, bad JSON, repeated names or fields, dtypes other than F32 /
// F16 / BF16 (refused by name), a dtype x shape that does not match the byte range.
// Errors name the file and the tensor or field. Tensor data is never read at open();
// callers read byte ranges (pread), so a file is never loaded whole.
//
// Thread-safety: immutable after open(); read_range() may be called from several threads.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/ReadOnlyFile.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

struct SafetensorsTensor {
    std::string name;
    DType dtype = DType::F32;
    std::vector<uint64> shape;  // as stored, row-major: shape[0] outermost (ggml's dims reversed)
    uint64 file_offset = 0;     // absolute offset of the first byte in the file
    uint64 byte_size = 0;
    uint64 n_elements = 0;

    // A matrix [rows, cols] (a vector counts as one row; 3-D and up: all but the last dim are rows).
    uint64 cols() const { return shape.empty() ? 1 : shape.back(); }
    uint64 rows() const { return cols() ? n_elements / cols() : 0; }
};

// The parsed header: metadata and the tensors in data order (ascending file offset).
struct SafetensorsHeader {
    std::map<std::string, std::string> metadata;
    std::vector<SafetensorsTensor> tensors;
};

struct SafetensorsLimits {
    static constexpr uint64 kMaxHeaderBytes = 100'000'000;  // the safetensors library's own cap
    static constexpr uint64 kMaxDims = 8;
    static constexpr uint64 kMaxDim = uint64(1) << 40;
    static constexpr uint32 kMaxJsonDepth = 4;  // top object > tensor > shape array, with room
};

// Parses header JSON `json` of a file whose data section starts at `data_offset` and holds
// `data_size` bytes. `where` names the file in errors. Pure: no I/O (tests, the fuzzer).
Expected<SafetensorsHeader> parse_safetensors_header(std::string_view json, uint64 data_offset, uint64 data_size, const std::string& where);

class SafetensorsFile {
public:
    static Expected<std::unique_ptr<SafetensorsFile>> open(const Path& path);

    const Path& path() const { return file_->path(); }
    uint64 file_size() const { return file_->size(); }
    uint64 data_offset() const { return data_offset_; }  // 8 + header length
    const std::map<std::string, std::string>& metadata() const { return header_.metadata; }
    const std::vector<SafetensorsTensor>& tensors() const { return header_.tensors; }
    const SafetensorsTensor* find(const std::string& name) const;

    // Absolute file offsets; see ReadOnlyFile.
    ExpectedVoid read_range(uint64 file_offset, uint64 size, void* dst) const { return file_->read_range(file_offset, size, dst); }
    Expected<std::vector<uint8>> read_tensor(const std::string& name) const;
    ExpectedVoid check_unchanged() const { return file_->check_unchanged(); }
    int fd() const { return file_->fd(); }

private:
    SafetensorsFile() = default;
    ExpectedVoid parse();

    std::unique_ptr<ReadOnlyFile> file_;
    uint64 data_offset_ = 0;
    SafetensorsHeader header_;
    std::map<std::string, size_t> index_;
};

// Safetensors' dtype name of an engine dtype ("F32", "F16", "BF16").
const char* safetensors_dtype_name(DType d);

}  // namespace vk_symbiote
