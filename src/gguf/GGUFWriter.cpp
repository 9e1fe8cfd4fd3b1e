#include "gguf/GGUFWriter.h"

#include "common/TempFiles.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <future>

namespace vk_symbiote {

// ---- value constructors ------------------------------------------------------------

namespace {

GGUFValue unsigned_value(GGUFType t, uint64 v) {
    GGUFValue x;
    x.type = t;
    x.u = v;
    x.i = int64(v);
    x.f = double(v);
    return x;
}

GGUFValue signed_value(GGUFType t, int64 v) {
    GGUFValue x;
    x.type = t;
    x.i = v;
    x.u = v >= 0 ? uint64(v) : 0;
    x.f = double(v);
    return x;
}

bool is_int_elem(GGUFType t) {
    switch (t) {
        case GGUFType::U8: case GGUFType::I8: case GGUFType::U16: case GGUFType::I16: case GGUFType::U32:
        case GGUFType::I32: case GGUFType::U64: case GGUFType::I64: case GGUFType::BOOL: return true;
        default: return false;
    }
}

}  // namespace

GGUFValue gguf_u8(uint8 v) { return unsigned_value(GGUFType::U8, v); }
GGUFValue gguf_u16(uint16 v) { return unsigned_value(GGUFType::U16, v); }
GGUFValue gguf_u32(uint32 v) { return unsigned_value(GGUFType::U32, v); }
GGUFValue gguf_u64(uint64 v) { return unsigned_value(GGUFType::U64, v); }
GGUFValue gguf_i8(int8_t v) { return signed_value(GGUFType::I8, v); }
GGUFValue gguf_i16(int16_t v) { return signed_value(GGUFType::I16, v); }
GGUFValue gguf_i32(int32 v) { return signed_value(GGUFType::I32, v); }
GGUFValue gguf_i64(int64 v) { return signed_value(GGUFType::I64, v); }

GGUFValue gguf_f32(float v) {
    GGUFValue x;
    x.type = GGUFType::F32;
    x.f = double(v);
    return x;
}

GGUFValue gguf_f64(double v) {
    GGUFValue x;
    x.type = GGUFType::F64;
    x.f = v;
    return x;
}

GGUFValue gguf_bool(bool v) {
    GGUFValue x;
    x.type = GGUFType::BOOL;
    x.i = v ? 1 : 0;
    x.u = v ? 1 : 0;
    return x;
}

GGUFValue gguf_string(std::string v) {
    GGUFValue x;
    x.type = GGUFType::STRING;
    x.str = std::move(v);
    return x;
}

GGUFValue gguf_int_array(GGUFType elem, std::vector<int64> values) {
    VKS_CHECK(is_int_elem(elem), std::string("gguf_int_array: element type ") + gguf_type_name(elem) + " is not an integer type");
    GGUFValue x;
    x.type = GGUFType::ARRAY;
    x.elem_type = elem;
    x.arr_len = values.size();
    x.arr_i = std::move(values);
    return x;
}

GGUFValue gguf_float_array(GGUFType elem, std::vector<double> values) {
    VKS_CHECK(elem == GGUFType::F32 || elem == GGUFType::F64, "gguf_float_array: element type must be f32 or f64");
    // f32 arrays carry floats: round now so a round trip compares equal.
    if (elem == GGUFType::F32)
        for (auto& v : values) v = double(float(v));
    GGUFValue x;
    x.type = GGUFType::ARRAY;
    x.elem_type = elem;
    x.arr_len = values.size();
    x.arr_f = std::move(values);
    return x;
}

GGUFValue gguf_string_array(std::vector<std::string> values) {
    GGUFValue x;
    x.type = GGUFType::ARRAY;
    x.elem_type = GGUFType::STRING;
    x.arr_len = values.size();
    x.arr_str = std::move(values);
    return x;
}

GGUFValue gguf_nested_array(std::vector<GGUFValue> arrays) {
    for (auto& a : arrays) VKS_CHECK(a.type == GGUFType::ARRAY, "gguf_nested_array: every element must be an array");
    GGUFValue x;
    x.type = GGUFType::ARRAY;
    x.elem_type = GGUFType::ARRAY;
    x.arr_len = arrays.size();
    x.arr = std::move(arrays);
    return x;
}

bool gguf_value_equal(const GGUFValue& a, const GGUFValue& b) {
    if (a.type != b.type) return false;
    switch (a.type) {
        case GGUFType::U8: case GGUFType::U16: case GGUFType::U32: case GGUFType::U64: return a.u == b.u;
        case GGUFType::I8: case GGUFType::I16: case GGUFType::I32: case GGUFType::I64: case GGUFType::BOOL: return a.i == b.i;
        case GGUFType::F32: case GGUFType::F64:
            return a.f == b.f || (a.f != a.f && b.f != b.f);  // NaN equals NaN here
        case GGUFType::STRING: return a.str == b.str;
        case GGUFType::ARRAY: break;
    }
    if (a.elem_type != b.elem_type || a.arr_len != b.arr_len) return false;
    switch (a.elem_type) {
        case GGUFType::STRING: return a.arr_str == b.arr_str;
        case GGUFType::F32: case GGUFType::F64: return a.arr_f == b.arr_f;
        case GGUFType::ARRAY:
            if (a.arr.size() != b.arr.size()) return false;
            for (size_t k = 0; k < a.arr.size(); ++k)
                if (!gguf_value_equal(a.arr[k], b.arr[k])) return false;
            return true;
        default: return a.arr_i == b.arr_i;
    }
}

// ---- GGUFBytes -----------------------------------------------------------------------

GGUFBytes& GGUFBytes::put(const void* p, size_t n) {
    auto* b = static_cast<const uint8*>(p);
    bytes.insert(bytes.end(), b, b + n);
    return *this;
}

GGUFBytes& GGUFBytes::pad_to(uint64 alignment) {
    if (alignment > 1) bytes.resize((bytes.size() + alignment - 1) / alignment * alignment, 0);
    return *this;
}

namespace {

// Serializes the payload of a value (everything after its type id).
void put_value(GGUFBytes& out, const GGUFValue& v);

void put_int_elem(GGUFBytes& out, GGUFType t, int64 x) {
    // Little-endian truncation to the element size (host is little-endian, as GGUF is).
    out.put(&x, gguf_scalar_size(t));
}

void put_array(GGUFBytes& out, const GGUFValue& v) {
    out.u32(uint32(v.elem_type));
    switch (v.elem_type) {
        case GGUFType::STRING:
            out.u64(v.arr_str.size());
            for (auto& s : v.arr_str) out.str(s);
            return;
        case GGUFType::ARRAY:
            out.u64(v.arr.size());
            for (auto& e : v.arr) put_array(out, e);
            return;
        case GGUFType::F32:
            out.u64(v.arr_f.size());
            for (double d : v.arr_f) out.f32(float(d));
            return;
        case GGUFType::F64:
            out.u64(v.arr_f.size());
            for (double d : v.arr_f) out.put(&d, 8);
            return;
        default:
            out.u64(v.arr_i.size());
            for (int64 x : v.arr_i) put_int_elem(out, v.elem_type, v.elem_type == GGUFType::BOOL ? (x != 0) : x);
            return;
    }
}

void put_value(GGUFBytes& out, const GGUFValue& v) {
    switch (v.type) {
        case GGUFType::U8: case GGUFType::U16: case GGUFType::U32: case GGUFType::U64: {
            uint64 x = v.u;
            out.put(&x, gguf_scalar_size(v.type));
            return;
        }
        case GGUFType::I8: case GGUFType::I16: case GGUFType::I32: case GGUFType::I64: case GGUFType::BOOL:
            put_int_elem(out, v.type, v.i);
            return;
        case GGUFType::F32: out.f32(float(v.f)); return;
        case GGUFType::F64: out.put(&v.f, 8); return;
        case GGUFType::STRING: out.str(v.str); return;
        case GGUFType::ARRAY: put_array(out, v); return;
    }
    // Out-of-range type ids are written with add_raw(); a GGUFValue never holds one.
    VKS_CHECK(false, "put_value: invalid GGUFType " + std::to_string(uint32(v.type)));
}

uint64 align_up(uint64 x, uint64 a) { return (x + a - 1) / a * a; }

// Double-buffered sequential writer: fill one 32 MiB buffer while the other is written
// by a background task. Owns neither the fd nor the path (both belong to write()).
class StreamSink {
public:
    static constexpr uint64 kMaxChunk = uint64(32) << 20;

    // Buffers are no larger than the file: small (test) files stay cheap to write.
    StreamSink(int fd, std::string fname, uint64 total, const ProgressFn& progress)
        : fd_(fd), fname_(std::move(fname)), total_(total), progress_(progress),
          kChunk(std::max<uint64>(1, std::min(kMaxChunk, total))) {
        bufs_[0].resize(kChunk);
        bufs_[1].resize(kChunk);
    }
    ~StreamSink() {
        if (pending_.valid()) pending_.wait();
    }

    ExpectedVoid put(const uint8* p, uint64 n) {
        while (n > 0) {
            uint64 take = std::min<uint64>(n, kChunk - used_);
            std::memcpy(bufs_[cur_].data() + used_, p, take);
            p += take;
            n -= take;
            VKS_TRY(commit(take));
        }
        return {};
    }

    ExpectedVoid zeros(uint64 n) {
        while (n > 0) {
            uint64 take = std::min<uint64>(n, kChunk - used_);
            std::memset(bufs_[cur_].data() + used_, 0, take);
            n -= take;
            VKS_TRY(commit(take));
        }
        return {};
    }

    // Streams `n` bytes produced by fill (called with ranges no larger than a chunk).
    ExpectedVoid fill(uint64 n, const TensorFillFn& fn, const std::string& what) {
        uint64 off = 0;
        while (off < n) {
            uint64 take = std::min<uint64>(n - off, kChunk - used_);
            uint8* dst = bufs_[cur_].data() + used_;
            if (fn) {
                auto r = fn(off, dst, take);
                if (!r) return make_error(r.error().code, fname_ + ": " + what + ": " + r.error().message);
            } else {
                std::memset(dst, 0, take);
            }
            off += take;
            VKS_TRY(commit(take));
        }
        return {};
    }

    ExpectedVoid finish() {
        VKS_TRY(flush());
        if (pending_.valid()) VKS_TRY(pending_.get());
        if (progress_) progress_(written_, total_);
        return {};
    }

private:
    ExpectedVoid commit(uint64 n) {
        used_ += n;
        if (used_ == kChunk) VKS_TRY(flush());
        return {};
    }

    ExpectedVoid flush() {
        if (used_ == 0) return {};
        if (pending_.valid()) VKS_TRY(pending_.get());
        if (progress_) progress_(written_, total_);
        const uint8* p = bufs_[cur_].data();
        uint64 n = used_;
        pending_ = std::async(std::launch::async, [this, p, n] { return write_all(p, n); });
        written_ += n;
        cur_ ^= 1;
        used_ = 0;
        return {};
    }

    ExpectedVoid write_all(const uint8* p, uint64 n) const {
        while (n > 0) {
            ssize_t r = ::write(fd_, p, size_t(std::min<uint64>(n, uint64(1) << 30)));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return make_error(ErrorCode::Io, fname_ + ": write failed: " + (r < 0 ? std::strerror(errno) : "no progress"));
            p += r;
            n -= uint64(r);
        }
        return {};
    }

    int fd_;
    std::string fname_;
    uint64 total_;
    const ProgressFn& progress_;
    const uint64 kChunk;  // bytes per buffer
    std::vector<uint8> bufs_[2];
    int cur_ = 0;
    uint64 used_ = 0;
    uint64 written_ = 0;  // bytes handed to the background writer
    std::future<ExpectedVoid> pending_;
};

ExpectedVoid finish_tmp(int fd, const Path& tmp, const Path& path) {
    if (::close(fd) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        return make_error(ErrorCode::Io, tmp.string() + ": close failed: " + std::strerror(e));
    }
    if (::rename(tmp.c_str(), path.c_str()) != 0) {
        int e = errno;
        ::unlink(tmp.c_str());
        return make_error(ErrorCode::Io, path.string() + ": rename from " + tmp.string() + " failed: " + std::strerror(e));
    }
    return {};
}

Expected<int> open_tmp(const Path& tmp) {
    int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return make_error(ErrorCode::Io, tmp.string() + ": cannot create: " + std::strerror(errno));
    return fd;
}

}  // namespace

ExpectedVoid write_file_atomic(const Path& path, const std::vector<uint8>& bytes) {
    Path tmp = path.string() + ".tmp";
    const TempFileGuard on_signal(tmp);  // a signal that ends the program removes it
    auto fd = open_tmp(tmp);
    if (!fd) return fd.error();
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t r = ::write(*fd, bytes.data() + done, bytes.size() - done);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = errno;
            ::close(*fd);
            ::unlink(tmp.c_str());
            return make_error(ErrorCode::Io, tmp.string() + ": write failed: " + std::strerror(e));
        }
        done += size_t(r);
    }
    return finish_tmp(*fd, tmp, path);
}

// ---- GGUFWriter ----------------------------------------------------------------------

void GGUFWriter::set_alignment(uint64 alignment, bool write_key) {
    alignment_ = alignment;
    if (write_key) set("general.alignment", gguf_u32(uint32(alignment)));
}

void GGUFWriter::add(const std::string& key, GGUFValue v) { kv_.push_back(KV{key, false, 0, {}, std::move(v)}); }

void GGUFWriter::set(const std::string& key, GGUFValue v) {
    for (auto& kv : kv_) {
        if (kv.key == key) {
            kv = KV{key, false, 0, {}, std::move(v)};
            return;
        }
    }
    add(key, std::move(v));
}

void GGUFWriter::add_raw(const std::string& key, uint32 type_id, std::vector<uint8> payload) {
    kv_.push_back(KV{key, true, type_id, std::move(payload), {}});
}

void GGUFWriter::add_tensor(const std::string& name, std::vector<uint64> dims, DType dtype, TensorFillFn fill) {
    GGUFWriterTensor t;
    t.name = name;
    uint64 n = 1;
    for (uint64 d : dims) n *= d;
    t.dims = std::move(dims);
    t.ggml_type = uint32(dtype);
    t.byte_size = n * dtype_size(dtype);
    t.fill = std::move(fill);
    tensors_.push_back(std::move(t));
}

void GGUFWriter::add_tensor(GGUFWriterTensor t) { tensors_.push_back(std::move(t)); }

std::vector<uint64> GGUFWriter::tensor_offsets() const {
    // Alignment 0 is a crafted-file value (bad general.alignment); lay out unaligned then.
    const uint64 a = alignment_ ? alignment_ : 1;
    std::vector<uint64> offs;
    uint64 cursor = 0;
    for (auto& t : tensors_) {
        uint64 o = t.offset ? *t.offset : align_up(cursor, a);
        offs.push_back(o);
        cursor = std::max(cursor, o + t.byte_size);
    }
    return offs;
}

std::vector<uint8> GGUFWriter::header_bytes() const {
    GGUFBytes b;
    b.u32(magic_).u32(version_);
    b.u64(tensor_count_override_ ? *tensor_count_override_ : tensors_.size());
    b.u64(kv_count_override_ ? *kv_count_override_ : kv_.size());
    for (auto& kv : kv_) {
        b.str(kv.key);
        if (kv.raw) {
            b.u32(kv.raw_type);
            b.put(kv.raw_payload.data(), kv.raw_payload.size());
        } else {
            b.u32(uint32(kv.value.type));
            put_value(b, kv.value);
        }
    }
    auto offs = tensor_offsets();
    for (size_t k = 0; k < tensors_.size(); ++k) {
        auto& t = tensors_[k];
        b.str(t.name);
        b.u32(uint32(t.dims.size()));
        for (uint64 d : t.dims) b.u64(d);
        b.u32(t.ggml_type);
        b.u64(offs[k]);
    }
    b.pad_to(alignment_ ? alignment_ : 1);
    return std::move(b.bytes);
}

uint64 GGUFWriter::file_size() const {
    uint64 end = 0;
    auto offs = tensor_offsets();
    for (size_t k = 0; k < tensors_.size(); ++k) end = std::max(end, offs[k] + tensors_[k].byte_size);
    return header_bytes().size() + end;
}

ExpectedVoid GGUFWriter::write(const Path& path, const ProgressFn& progress) const {
    const std::vector<uint8> header = header_bytes();
    const auto offs = tensor_offsets();
    uint64 end = 0;
    for (size_t k = 0; k < tensors_.size(); ++k) {
        if (offs[k] < end)
            return make_error(ErrorCode::InvalidArgument, path.string() + ": tensor '" + tensors_[k].name +
                                                              "': explicit offset goes backwards; write() streams data in table order");
        end = offs[k] + tensors_[k].byte_size;
    }
    const uint64 total = header.size() + end;

    Path tmp = path.string() + ".tmp";
    const TempFileGuard on_signal(tmp);  // SIGPIPE / Ctrl-C while writing leave no .tmp
    auto fd = open_tmp(tmp);
    if (!fd) return fd.error();
    ExpectedVoid r = [&]() -> ExpectedVoid {
        StreamSink sink(*fd, tmp.string(), total, progress);
        VKS_TRY(sink.put(header.data(), header.size()));
        uint64 pos = 0;  // relative to the data section
        for (size_t k = 0; k < tensors_.size(); ++k) {
            VKS_TRY(sink.zeros(offs[k] - pos));
            VKS_TRY(sink.fill(tensors_[k].byte_size, tensors_[k].fill, "tensor '" + tensors_[k].name + "'"));
            pos = offs[k] + tensors_[k].byte_size;
        }
        return sink.finish();
    }();
    if (!r) {
        ::close(*fd);
        ::unlink(tmp.c_str());
        return r;
    }
    return finish_tmp(*fd, tmp, path);
}

}  // namespace vk_symbiote
