// ModelSource: where a model's description and weights come from, as everything above the
// loader sees it: GGUF-style metadata (the keys llama.cpp writes), a tensor table (GGUF names,
// ggml dims order, dtype, an absolute byte range), ranged reads in one 64-bit address space,
// and the files behind that address space (O_DIRECT readers, the pack cache's identity).
// Implemented by GGUFLoader (one file: the address space is the file) and by HfModelSource
// (a Hugging Face folder: shards laid end to end at HfCheckpoint::shard_base, config.json
// presented as the converter's keys, a few small tensors the converter would have computed
// held in memory past the last shard). TensorRegistry, the pack planner, the pack cache,
// the providers and the engine read only this interface, so a folder is never loaded whole
// and never converted on disk.
//
// Thread-safety: immutable after open; read_range() may be called from several threads.
#pragma once

#include <map>
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

// One file behind a source's address space: bytes [base, base + size) of the source are
// bytes [0, size) of `path`, open as `fd` (owned by the source) for the source's lifetime.
struct SourceFile {
    Path path;
    uint64 base = 0;
    uint64 size = 0;
    int fd = -1;
};

class ModelSource {
public:
    virtual ~ModelSource() = default;

    // What the user named (a GGUF file, a folder): messages and the pack cache's file name.
    virtual const Path& path() const = 0;
    // End of the address space (a GGUF file: its size).
    virtual uint64 file_size() const = 0;
    // Everything but tensor data that defines the model, as bytes (a GGUF file's header; a
    // folder's config.json, shard headers and in-memory tensors): the pack cache hashes it.
    virtual Expected<std::vector<uint8>> header_bytes() const = 0;
    // The files behind the address space, by base. Bytes outside every file (a folder's
    // in-memory tensors) are read through read_range() only.
    virtual std::vector<SourceFile> files() const = 0;

    // Metadata, GGUF keys (a folder: the keys llama.cpp's converter writes from config.json).
    virtual const std::map<std::string, GGUFValue>& metadata() const = 0;
    bool has_key(const std::string& key) const { return metadata().count(key) != 0; }
    const GGUFValue* find(const std::string& key) const;
    // Typed getters: error names the source and key when missing or of the wrong type.
    Expected<std::string> get_string(const std::string& key) const;
    Expected<uint64> get_uint(const std::string& key) const;  // any non-negative integer type
    Expected<double> get_float(const std::string& key) const; // any float or integer type
    Expected<bool> get_bool(const std::string& key) const;

    // Tensor table
    virtual const std::vector<GGUFTensorInfo>& tensors() const = 0;
    virtual const GGUFTensorInfo* find_tensor(const std::string& name) const = 0;
    // Expert `e` of the stacked expert tensor `name` when the source keeps each expert as a
    // tensor of its own (2-D dims [cols, rows]); nullptr when it stores the stacked 3-D tensor
    // (GGUF: expert e is rows [e * rows, (e + 1) * rows) of it).
    virtual const GGUFTensorInfo* find_expert(const std::string& name, uint32 e) const;
    // Whether the Q / K rows of a rope'd model are in transformers' rotate-half order (the
    // rope must then be the NeoX layout whatever the architecture's default), rather than in
    // the adjacent-pair order llama.cpp's converter permutes them into.
    virtual bool qk_rows_rotate_half() const { return false; }

    // `size` bytes at `offset` of the address space. Io when the range leaves it or a file got
    // shorter (truncated while running).
    virtual ExpectedVoid read_range(uint64 offset, uint64 size, void* dst) const = 0;
    Expected<std::vector<uint8>> read_tensor(const std::string& name) const;
    // Every file still has the size it had at open; used by the I/O path before each read.
    virtual ExpectedVoid check_unchanged() const = 0;
};

}  // namespace vk_symbiote
