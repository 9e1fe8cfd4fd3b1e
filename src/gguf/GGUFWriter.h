// GGUFWriter: writes GGUF v3 (or v2) files: metadata of every value type (arrays and
// nested arrays included), a tensor table and the aligned data section. Tensor data is
// STREAMED: the header is written first, then each tensor's bytes are produced chunk by
// chunk by a caller-supplied fill callback, so a 13 GB model never sits in memory (two
// 32 MiB buffers do; the write of one overlaps the fill of the other).
//
// The file is written to "<path>.tmp" and renamed onto <path> only when complete, so a
// failed or interrupted write never leaves a half file under the final name.
//
// For hostile-input tests the writer can also craft broken files: override the magic,
// the version, the kv / tensor counts, give tensors explicit (bad) offsets, dims and
// type ids, append raw key/value payloads, and serialize just the header to bytes
// (header_bytes()) so a test can patch or truncate it. GGUFBytes is a little-endian
// byte builder for writing raw fields by hand.
//
// Thread-safety: a GGUFWriter is used by one thread; fill callbacks are called from the
// thread that calls write(), sequentially, in file order.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "common/StreamedFileWriter.h"
#include "gguf/GGUFLoader.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// ---- metadata value constructors (the GGUFValue the loader returns, built for writing) ----
GGUFValue gguf_u8(uint8 v);
GGUFValue gguf_i8(int8_t v);
GGUFValue gguf_u16(uint16 v);
GGUFValue gguf_i16(int16_t v);
GGUFValue gguf_u32(uint32 v);
GGUFValue gguf_i32(int32 v);
GGUFValue gguf_u64(uint64 v);
GGUFValue gguf_i64(int64 v);
GGUFValue gguf_f32(float v);
GGUFValue gguf_f64(double v);
GGUFValue gguf_bool(bool v);
GGUFValue gguf_string(std::string v);
// Array of an integer or bool element type (u64 values stored bit-cast in int64).
GGUFValue gguf_int_array(GGUFType elem, std::vector<int64> values);
// Array of f32 or f64.
GGUFValue gguf_float_array(GGUFType elem, std::vector<double> values);
GGUFValue gguf_string_array(std::vector<std::string> values);
// Array of arrays; each element must itself be an ARRAY value (element types may differ).
GGUFValue gguf_nested_array(std::vector<GGUFValue> arrays);

// Deep equality of two values as a GGUF file would carry them (used by round-trip tests).
bool gguf_value_equal(const GGUFValue& a, const GGUFValue& b);

// Little-endian byte builder for crafting raw GGUF pieces.
class GGUFBytes {
public:
    GGUFBytes& u8(uint8 v) { return put(&v, 1); }
    GGUFBytes& u32(uint32 v) { return put(&v, 4); }
    GGUFBytes& u64(uint64 v) { return put(&v, 8); }
    GGUFBytes& f32(float v) { return put(&v, 4); }
    GGUFBytes& str(const std::string& s) { u64(s.size()); return put(s.data(), s.size()); }
    GGUFBytes& put(const void* p, size_t n);
    GGUFBytes& zeros(size_t n) { bytes.resize(bytes.size() + n, 0); return *this; }
    GGUFBytes& pad_to(uint64 alignment);  // zero-pad size up to a multiple of alignment
    std::vector<uint8> bytes;
};

struct GGUFWriterTensor {
    std::string name;
    std::vector<uint64> dims;      // ggml order: dims[0] contiguous
    uint32 ggml_type = 0;          // 0 f32, 1 f16, 30 bf16; anything else for crafted files
    uint64 byte_size = 0;          // bytes of data this tensor owns in the file
    std::optional<uint64> offset;  // relative to the data section; auto-laid out when empty
    TensorFillFn fill;             // empty: zeros
};

class GGUFWriter {
public:
    explicit GGUFWriter(uint32 version = 3) : version_(version) {}

    // Layout alignment of tensor data. Writes "general.alignment" (u32) only if
    // write_key is true (a value of 32, the default, need not be stored).
    void set_alignment(uint64 alignment, bool write_key = true);
    uint64 alignment() const { return alignment_; }
    void set_version(uint32 v) { version_ = v; }

    // Metadata, written in insertion order. Adding an existing key again appends a second
    // copy (duplicate keys are what hostile-input tests need); set() replaces instead.
    void add(const std::string& key, GGUFValue v);
    void set(const std::string& key, GGUFValue v);
    // A key with an arbitrary type id and raw payload bytes (everything after the type).
    void add_raw(const std::string& key, uint32 type_id, std::vector<uint8> payload);

    // An unquantized tensor of the given dims (byte size computed) filled by `fill`.
    void add_tensor(const std::string& name, std::vector<uint64> dims, DType dtype, TensorFillFn fill = {});
    // Full control (crafted files): explicit type id, byte size, offset.
    void add_tensor(GGUFWriterTensor t);

    // Crafting overrides for the fixed header fields.
    void override_magic(uint32 m) { magic_ = m; }
    void override_tensor_count(uint64 n) { tensor_count_override_ = n; }
    void override_kv_count(uint64 n) { kv_count_override_ = n; }

    // Header (magic .. last tensor info), zero-padded to the alignment: the data section
    // starts right after. Offsets are assigned as write() would.
    std::vector<uint8> header_bytes() const;
    // Total file size write() produces.
    uint64 file_size() const;
    // Offsets (relative to the data section) the tensors get, in add order.
    std::vector<uint64> tensor_offsets() const;

    // Streams the file to "<path>.tmp", then renames it onto `path`. Tensors with an
    // explicit offset must not go backwards (data is streamed in table order).
    // `progress` is called after each chunk (about every 32 MiB) and at the end.
    ExpectedVoid write(const Path& path, const ProgressFn& progress = {}) const;

private:
    struct KV {
        std::string key;
        bool raw = false;
        uint32 raw_type = 0;
        std::vector<uint8> raw_payload;
        GGUFValue value;
    };
    uint32 version_ = 3;
    uint32 magic_ = 0x46554747;  // "GGUF"
    uint64 alignment_ = 32;
    std::optional<uint64> tensor_count_override_;
    std::optional<uint64> kv_count_override_;
    std::vector<KV> kv_;
    std::vector<GGUFWriterTensor> tensors_;
};

}  // namespace vk_symbiote
