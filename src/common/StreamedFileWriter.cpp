#include "common/StreamedFileWriter.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace vk_symbiote {

StreamedFileWriter::StreamedFileWriter(Path path, uint64 total, ProgressFn progress)
    : path_(std::move(path)), tmp_(path_.string() + ".tmp"), total_(total), progress_(std::move(progress)),
      chunk_(std::max<uint64>(1, std::min(kMaxChunk, total))) {}

Expected<std::unique_ptr<StreamedFileWriter>> StreamedFileWriter::create(const Path& path, uint64 total, ProgressFn progress) {
    std::unique_ptr<StreamedFileWriter> w(new StreamedFileWriter(path, total, std::move(progress)));
    w->on_signal_ = std::make_unique<TempFileGuard>(w->tmp_);
    w->fd_ = ::open(w->tmp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (w->fd_ < 0) return make_error(ErrorCode::Io, w->tmp_.string() + ": cannot create: " + std::strerror(errno));
    w->bufs_[0].resize(w->chunk_);
    w->bufs_[1].resize(w->chunk_);
    return w;
}

StreamedFileWriter::~StreamedFileWriter() {
    if (pending_.valid()) pending_.wait();
    if (fd_ >= 0) {  // not committed
        ::close(fd_);
        ::unlink(tmp_.c_str());
    }
}

ExpectedVoid StreamedFileWriter::put(const uint8* p, uint64 n) {
    while (n > 0) {
        const uint64 take = std::min<uint64>(n, chunk_ - used_);
        std::memcpy(bufs_[cur_].data() + used_, p, take);
        p += take;
        n -= take;
        VKS_TRY(advance(take));
    }
    return {};
}

ExpectedVoid StreamedFileWriter::zeros(uint64 n) { return fill(n, {}, "padding"); }

ExpectedVoid StreamedFileWriter::fill(uint64 n, const TensorFillFn& fn, const std::string& what) {
    uint64 off = 0;
    while (off < n) {
        const uint64 take = std::min<uint64>(n - off, chunk_ - used_);
        uint8* dst = bufs_[cur_].data() + used_;
        if (fn) {
            auto r = fn(off, dst, take);
            if (!r) return make_error(r.error().code, tmp_.string() + ": " + what + ": " + r.error().message);
        } else {
            std::memset(dst, 0, take);
        }
        off += take;
        VKS_TRY(advance(take));
    }
    return {};
}

ExpectedVoid StreamedFileWriter::commit() {
    VKS_TRY(flush());
    if (pending_.valid()) VKS_TRY(pending_.get());
    if (progress_) progress_(written_, total_);
    const int fd = fd_;
    fd_ = -1;
    if (::close(fd) != 0) {
        const int e = errno;
        ::unlink(tmp_.c_str());
        return make_error(ErrorCode::Io, tmp_.string() + ": close failed: " + std::strerror(e));
    }
    if (::rename(tmp_.c_str(), path_.c_str()) != 0) {
        const int e = errno;
        ::unlink(tmp_.c_str());
        return make_error(ErrorCode::Io, path_.string() + ": rename from " + tmp_.string() + " failed: " + std::strerror(e));
    }
    return {};
}

ExpectedVoid StreamedFileWriter::advance(uint64 n) {
    used_ += n;
    if (used_ == chunk_) VKS_TRY(flush());
    return {};
}

// Hands the current buffer to the background writer (after the previous one finished).
ExpectedVoid StreamedFileWriter::flush() {
    if (used_ == 0) return {};
    if (pending_.valid()) VKS_TRY(pending_.get());
    if (progress_) progress_(written_, total_);
    const uint8* p = bufs_[cur_].data();
    const uint64 n = used_;
    pending_ = std::async(std::launch::async, [this, p, n] { return write_all(p, n); });
    written_ += n;
    cur_ ^= 1;
    used_ = 0;
    return {};
}

ExpectedVoid StreamedFileWriter::write_all(const uint8* p, uint64 n) const {
    while (n > 0) {
        ssize_t r = ::write(fd_, p, size_t(std::min<uint64>(n, uint64(1) << 30)));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) return make_error(ErrorCode::Io, tmp_.string() + ": write failed: " + (r < 0 ? std::strerror(errno) : "no progress"));
        p += r;
        n -= uint64(r);
    }
    return {};
}

ExpectedVoid write_file_atomic(const Path& path, const std::vector<uint8>& bytes) {
    auto w = StreamedFileWriter::create(path, bytes.size());
    if (!w) return w.error();
    VKS_TRY((*w)->put(bytes.data(), bytes.size()));
    return (*w)->commit();
}

}  // namespace vk_symbiote
