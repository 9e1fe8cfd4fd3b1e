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
#include <optional>
#include <string>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// GGUF metadata value type ids (gguf spec).
enum class GGUFType : uint32 {
    U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, BOOL = 7,
    STRING = 8, ARRAY = 9, U64 = 10, I64 = 11, F64 = 12,
};
const char* gguf_type_name(GGUFType t);
// Bytes of one scalar value of type t on disk; 0 for STRING and ARRAY.
size_t gguf_scalar_size(GGUFType t);

// One metadata value. Scalars are widened into i/u/f; arrays of scalars are kept as
// widened vectors, arrays of strings as strings, nested arrays as `arr`.
struct GGUFValue {
    GGUFType type = GGUFType::U8;
    GGUFType elem_type = GGUFType::U8;  // for ARRAY
    int64 i = 0;      // signed ints and bool
    uint64 u = 0;     // unsigned ints (also mirrors i when non-negative)
    double f = 0.0;   // floats
    std::string str;
    std::vector<int64> arr_i;     // integer / bool arrays (u64 stored bit-cast)
    std::vector<double> arr_f;    // f32 / f64 arrays
    std::vector<std::string> arr_str;
    std::vector<GGUFValue> arr;   // nested arrays
    uint64 arr_len = 0;

    bool is_integer() const;
    bool is_float() const;
};

// ggml tensor type ids for the error messages of quantized tensors.
const char* ggml_type_name(uint32 ggml_type);

struct GGUFTensorInfo {
    std::string name;
    std::vector<uint64> dims;  // ggml order: dims[0] is the contiguous (row) length
    DType dtype = DType::F32;
    uint32 ggml_type = 0;
    uint64 rel_offset = 0;     // offset inside the data section
    uint64 file_offset = 0;    // absolute offset in the file
    uint64 byte_size = 0;
    uint64 n_elements = 0;

    uint64 row_length() const { return dims.empty() ? 1 : dims[0]; }
    uint64 n_rows() const { return row_length() ? n_elements / row_length() : 0; }
    uint64 row_bytes() const { return row_length() * dtype_size(dtype); }
};

struct GGUFOpenOptions {
    // Quantized tensors are an error by default; vocabulary-only use (tokenize) may
    // accept any tensor table because no tensor data is touched.
    bool allow_quantized = false;
};

class GGUFLoader {
public:
    static Expected<std::unique_ptr<GGUFLoader>> open(const Path& path, GGUFOpenOptions opts = {});
    ~GGUFLoader();
    GGUFLoader(const GGUFLoader&) = delete;
    GGUFLoader& operator=(const GGUFLoader&) = delete;

    const Path& path() const { return path_; }
    uint32 version() const { return version_; }
    uint64 file_size() const { return file_size_; }
    uint64 alignment() const { return alignment_; }
    uint64 data_offset() const { return data_offset_; }

    // Metadata
    bool has_key(const std::string& key) const { return kv_.count(key) != 0; }
    const GGUFValue* find(const std::string& key) const;
    const std::map<std::string, GGUFValue>& metadata() const { return kv_; }

    // Typed getters: error names the file and key when missing or of the wrong type.
    Expected<std::string> get_string(const std::string& key) const;
    Expected<uint64> get_uint(const std::string& key) const;  // any non-negative integer type
    Expected<double> get_float(const std::string& key) const; // any float or integer type
    Expected<bool> get_bool(const std::string& key) const;

    // Tensor table (file order)
    const std::vector<GGUFTensorInfo>& tensors() const { return tensors_; }
    const GGUFTensorInfo* find_tensor(const std::string& name) const;

    // Ranged reads of tensor data (absolute file offsets). Fails with Io if the file
    // got shorter or the read is short (file truncated while running).
    ExpectedVoid read_range(uint64 file_offset, uint64 size, void* dst) const;
    Expected<std::vector<uint8>> read_tensor(const std::string& name) const;

    // Check the file is still the one we opened (size unchanged); used by the I/O path.
    ExpectedVoid check_unchanged() const;
    int fd() const { return fd_; }

private:
    GGUFLoader() = default;
    ExpectedVoid parse(const GGUFOpenOptions& opts);

    Path path_;
    int fd_ = -1;
    uint64 file_size_ = 0;
    int64 mtime_ns_ = 0;
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
