// StreamedFileWriter: writes a file of known size sequentially without holding it in memory:
// the caller fills one buffer (up to 32 MiB) while a background task writes the other. The
// bytes go to "<path>.tmp", renamed onto <path> only by commit(), so a failed or interrupted
// write never leaves a half file under the final name (the destructor removes the .tmp).
// Used by the model writers (GGUF, safetensors) for multi-gigabyte generated models.
//
// Thread-safety: one thread calls put / zeros / fill / commit; fill callbacks run on it.
#pragma once

#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "common/TempFiles.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// Progress of a long write: bytes done so far out of the total (both in bytes).
using ProgressFn = std::function<void(uint64 done, uint64 total)>;

// Produces bytes [offset, offset + n) of one tensor's data into dst (dst holds n bytes).
// Called with consecutive ranges covering the tensor exactly once, in order.
using TensorFillFn = std::function<ExpectedVoid(uint64 offset, uint8* dst, uint64 n)>;

class StreamedFileWriter {
public:
    static constexpr uint64 kMaxChunk = uint64(32) << 20;

    // `total`: the file's size in bytes (buffers are no larger: small files stay cheap).
    static Expected<std::unique_ptr<StreamedFileWriter>> create(const Path& path, uint64 total, ProgressFn progress = {});
    ~StreamedFileWriter();
    StreamedFileWriter(const StreamedFileWriter&) = delete;
    StreamedFileWriter& operator=(const StreamedFileWriter&) = delete;

    ExpectedVoid put(const uint8* p, uint64 n);
    ExpectedVoid zeros(uint64 n);
    // `n` bytes produced by `fn` (empty: zeros), called with ranges of at most one buffer;
    // its errors are prefixed with the file and `what`.
    ExpectedVoid fill(uint64 n, const TensorFillFn& fn, const std::string& what);
    // Writes what is buffered, closes and renames the .tmp onto the path.
    ExpectedVoid commit();

private:
    StreamedFileWriter(Path path, uint64 total, ProgressFn progress);
    ExpectedVoid advance(uint64 n);
    ExpectedVoid flush();
    ExpectedVoid write_all(const uint8* p, uint64 n) const;

    Path path_, tmp_;
    std::unique_ptr<TempFileGuard> on_signal_;  // a signal that ends the program removes the .tmp
    int fd_ = -1;
    uint64 total_;
    ProgressFn progress_;
    uint64 chunk_;  // bytes per buffer
    std::vector<uint8> bufs_[2];
    int cur_ = 0;
    uint64 used_ = 0;
    uint64 written_ = 0;  // bytes handed to the background writer
    std::future<ExpectedVoid> pending_;
};

// Writes `bytes` to `path` (via "<path>.tmp" + rename). Errors name the path.
ExpectedVoid write_file_atomic(const Path& path, const std::vector<uint8>& bytes);

}  // namespace vk_symbiote
