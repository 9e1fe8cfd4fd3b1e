#include "common/ReadOnlyFile.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace vk_symbiote {

ReadOnlyFile::~ReadOnlyFile() {
    if (fd_ >= 0) ::close(fd_);
}

Expected<std::unique_ptr<ReadOnlyFile>> ReadOnlyFile::open(const Path& path, const std::string& what) {
    std::unique_ptr<ReadOnlyFile> f(new ReadOnlyFile());
    f->path_ = path;
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever; it
    // changes nothing for the reads of a regular file, and anything else is refused below.
    f->fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (f->fd_ < 0) return make_error(errno == ENOENT ? ErrorCode::NotFound : ErrorCode::Io, path.string() + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    if (::fstat(f->fd_, &st) != 0) return make_error(ErrorCode::Io, path.string() + ": stat failed: " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return make_error(ErrorCode::Io, path.string() + ": not a regular file (a directory, FIFO or device); " + what);
    f->size_ = uint64(st.st_size);
    return f;
}

ExpectedVoid pread_range(int fd, const Path& path, uint64 file_size, uint64 off, uint64 size, void* dst) {
    uint64 end;
    if (__builtin_add_overflow(off, size, &end) || end > file_size)
        return make_error(ErrorCode::Io, path.string() + ": read of " + std::to_string(size) + " bytes at " + std::to_string(off) + " past end of file");
    auto* out = static_cast<uint8*>(dst);
    uint64 got = 0;
    while (got < size) {
        size_t chunk = size_t(std::min<uint64>(size - got, uint64(1) << 30));
        ssize_t r = ::pread(fd, out + got, chunk, off_t(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return make_error(ErrorCode::Io, path.string() + ": read at byte " + std::to_string(off + got) + " failed: " + std::strerror(errno));
        if (r == 0)
            return make_error(ErrorCode::Io, path.string() + ": unexpected end of file at byte " + std::to_string(off + got) +
                                                 " (the file was truncated or replaced while running)");
        got += uint64(r);
    }
    return {};
}

ExpectedVoid ReadOnlyFile::read_range(uint64 off, uint64 size, void* dst) const { return pread_range(fd_, path_, size_, off, size, dst); }

ExpectedVoid ReadOnlyFile::check_unchanged() const {
    struct stat st {};
    if (::stat(path_.c_str(), &st) != 0) return make_error(ErrorCode::Io, path_.string() + ": file disappeared: " + std::strerror(errno));
    if (uint64(st.st_size) != size_)
        return make_error(ErrorCode::Io, path_.string() + ": file changed size while running (" + std::to_string(size_) + " -> " + std::to_string(st.st_size) + " bytes)");
    return {};
}

}  // namespace vk_symbiote
