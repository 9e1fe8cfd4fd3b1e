// ReadOnlyFile: one regular file opened for positional reads (pread), as the model readers
// keep their files: opened once, never read whole, checked for changes before I/O jobs.
// Errors name the path. A FIFO never blocks the open (O_NONBLOCK) and anything that is not a
// regular file is refused with `what` (e.g. "the model must be a GGUF file") in the message.
//
// Thread-safety: immutable after open(); read_range() may be called from several threads.
#pragma once

#include <memory>
#include <string>

#include "vk_symbiote/Common.h"

namespace vk_symbiote {

// Bytes [off, off + size) of the open file fd (file_size bytes, named `path` in errors) into
// dst, in pread calls of at most 1 GiB; an error past the end or on a short read (the file was
// truncated or replaced while running). What every model reader's ranged read comes down to.
ExpectedVoid pread_range(int fd, const Path& path, uint64 file_size, uint64 off, uint64 size, void* dst);

class ReadOnlyFile {
public:
    static Expected<std::unique_ptr<ReadOnlyFile>> open(const Path& path, const std::string& what);
    ~ReadOnlyFile();
    ReadOnlyFile(const ReadOnlyFile&) = delete;
    ReadOnlyFile& operator=(const ReadOnlyFile&) = delete;

    const Path& path() const { return path_; }
    uint64 size() const { return size_; }
    int fd() const { return fd_; }

    // Bytes [off, off + size) into dst; an error past the end or on a short read (the file
    // was truncated or replaced while running).
    ExpectedVoid read_range(uint64 off, uint64 size, void* dst) const;
    // The file at path() still has the size it had at open().
    ExpectedVoid check_unchanged() const;

private:
    ReadOnlyFile() = default;
    Path path_;
    int fd_ = -1;
    uint64 size_ = 0;
};

}  // namespace vk_symbiote
