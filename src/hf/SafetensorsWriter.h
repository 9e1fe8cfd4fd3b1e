// SafetensorsWriter: writes one .safetensors file as the safetensors library does: the
// 8-byte little-endian header length, a compact JSON header ("__metadata__" and every
// tensor's dtype, shape and data_offsets) padded with spaces to a multiple of 8 bytes, then
// the tensors' bytes back to back in the order they were added. Tensor bytes are streamed
// from fill callbacks (StreamedFileWriter), so a multi-gigabyte shard never sits in memory.
//
// Thread-safety: one thread; fill callbacks are called on it, in file order.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "common/StreamedFileWriter.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class SafetensorsWriter {
public:
    void set_metadata(const std::string& key, const std::string& value) { metadata_[key] = value; }
    // shape as stored (row-major, outermost first); `fill` produces the bytes (empty: zeros).
    void add_tensor(const std::string& name, DType dtype, std::vector<uint64> shape, TensorFillFn fill = {});

    // The header JSON with its padding (what follows the 8-byte length).
    std::string header() const;
    uint64 data_bytes() const;
    uint64 file_size() const { return 8 + header().size() + data_bytes(); }

    // Streams the file to "<path>.tmp", then renames it onto `path`.
    ExpectedVoid write(const Path& path, const ProgressFn& progress = {}) const;

private:
    struct Tensor {
        std::string name;
        DType dtype;
        std::vector<uint64> shape;
        uint64 byte_size;
        TensorFillFn fill;
    };
    std::map<std::string, std::string> metadata_;
    std::vector<Tensor> tensors_;
};

}  // namespace vk_symbiote
