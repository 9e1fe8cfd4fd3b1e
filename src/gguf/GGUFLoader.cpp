#include "gguf/GGUFLoader.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include "common/ReadOnlyFile.h"

namespace vk_symbiote {

const char* gguf_type_name(GGUFType t) {
    switch (t) {
        case GGUFType::U8: return "u8";
        case GGUFType::I8: return "i8";
        case GGUFType::U16: return "u16";
        case GGUFType::I16: return "i16";
        case GGUFType::U32: return "u32";
        case GGUFType::I32: return "i32";
        case GGUFType::F32: return "f32";
        case GGUFType::BOOL: return "bool";
        case GGUFType::STRING: return "string";
        case GGUFType::ARRAY: return "array";
        case GGUFType::U64: return "u64";
        case GGUFType::I64: return "i64";
        case GGUFType::F64: return "f64";
    }
    return "?";
}

size_t gguf_scalar_size(GGUFType t) {
    switch (t) {
        case GGUFType::U8: case GGUFType::I8: case GGUFType::BOOL: return 1;
        case GGUFType::U16: case GGUFType::I16: return 2;
        case GGUFType::U32: case GGUFType::I32: case GGUFType::F32: return 4;
        case GGUFType::U64: case GGUFType::I64: case GGUFType::F64: return 8;
        default: return 0;
    }
}

const char* ggml_type_name(uint32 t) {
    static const char* names[] = {"f32",     "f16",    "q4_0",   "q4_1",    "q4_2(removed)", "q4_3(removed)",
                                  "q5_0",    "q5_1",   "q8_0",   "q8_1",    "q2_K",          "q3_K",
                                  "q4_K",    "q5_K",   "q6_K",   "q8_K",    "iq2_xxs",       "iq2_xs",
                                  "iq3_xxs", "iq1_s",  "iq4_nl", "iq3_s",   "iq2_s",         "iq4_xs",
                                  "i8",      "i16",    "i32",    "i64",     "f64",           "iq1_m",
                                  "bf16",    "q4_0_4_4", "q4_0_4_8", "q4_0_8_8", "tq1_0",    "tq2_0"};
    if (t < sizeof(names) / sizeof(names[0])) return names[t];
    return "unknown";
}

bool GGUFValue::is_integer() const {
    switch (type) {
        case GGUFType::U8: case GGUFType::I8: case GGUFType::U16: case GGUFType::I16:
        case GGUFType::U32: case GGUFType::I32: case GGUFType::U64: case GGUFType::I64:
        case GGUFType::BOOL: return true;
        default: return false;
    }
}
bool GGUFValue::is_float() const { return type == GGUFType::F32 || type == GGUFType::F64; }

namespace {

constexpr uint32 kMagic = 0x46554747;  // "GGUF" little-endian


bool valid_type(uint32 t) { return t <= uint32(GGUFType::F64); }

// Buffered, bounds-checked sequential reader over the file header.
class Cursor {
public:
    Cursor(int fd, uint64 file_size, std::string fname) : fd_(fd), size_(file_size), fname_(std::move(fname)) {}

    uint64 pos() const { return pos_; }

    // Accounts `n` elements of `each` bytes of memory for parsed metadata; fails before
    // the allocation when the total would pass GGUFLimits::kMaxMetadataBytes.
    ExpectedVoid charge(uint64 n, uint64 each, const std::string& field) {
        uint64 bytes = 0;
        if (__builtin_mul_overflow(n, each, &bytes) || bytes > GGUFLimits::kMaxMetadataBytes - charged_)
            return err(field, "metadata would need more than " + std::to_string(GGUFLimits::kMaxMetadataBytes >> 20) + " MiB of memory (" +
                                  std::to_string(n) + " elements)");
        charged_ += bytes;
        return {};
    }
    uint64 remaining() const { return size_ - pos_; }

    Error err(const std::string& field, const std::string& what) const {
        return make_error(ErrorCode::Format, fname_ + ": " + field + ": " + what + " (at byte " + std::to_string(pos_) + ")");
    }

    ExpectedVoid read(void* dst, uint64 n, const std::string& field) {
        if (n > remaining()) return err(field, "truncated file: need " + std::to_string(n) + " bytes, " + std::to_string(remaining()) + " left");
        auto* out = static_cast<uint8*>(dst);
        while (n > 0) {
            if (pos_ < buf_start_ || pos_ >= buf_start_ + buf_.size()) {
                VKS_TRY(fill(field));
            }
            uint64 off = pos_ - buf_start_;
            uint64 take = std::min<uint64>(n, buf_.size() - off);
            std::memcpy(out, buf_.data() + off, take);
            out += take;
            pos_ += take;
            n -= take;
        }
        return {};
    }

    template <class T>
    Expected<T> get(const std::string& field) {
        T v{};
        VKS_TRY(read(&v, sizeof(T), field));
        return v;
    }

    Expected<std::string> get_string(const std::string& field) {
        auto len = get<uint64>(field + " (string length)");
        if (!len) return len.error();
        if (*len > GGUFLimits::kMaxStringLen || *len > remaining())
            return err(field, "string length " + std::to_string(*len) + " past end of file");
        VKS_TRY(charge(*len, 1, field));
        std::string s(*len, '\0');
        VKS_TRY(read(s.data(), *len, field));
        return s;
    }

private:
    ExpectedVoid fill(const std::string& field) {
        constexpr uint64 kChunk = 1 << 20;
        uint64 n = std::min<uint64>(kChunk, size_ - pos_);
        buf_.resize(n);
        uint64 got = 0;
        while (got < n) {
            ssize_t r = ::pread(fd_, buf_.data() + got, n - got, off_t(pos_ + got));
            if (r < 0 && errno == EINTR) continue;
            if (r <= 0) return make_error(ErrorCode::Io, fname_ + ": " + field + ": read failed: " + (r < 0 ? std::strerror(errno) : "unexpected end of file"));
            got += uint64(r);
        }
        buf_start_ = pos_;
        return {};
    }

    int fd_;
    uint64 size_;
    std::string fname_;
    uint64 pos_ = 0;
    uint64 charged_ = 0;  // bytes of memory accounted by charge()
    uint64 buf_start_ = 0;
    std::vector<uint8> buf_;
};

Expected<GGUFValue> read_value(Cursor& c, GGUFType type, const std::string& field, uint32 depth);

template <class T>
ExpectedVoid read_scalar_into(Cursor& c, GGUFValue& v, const std::string& field) {
    auto x = c.get<T>(field);
    if (!x) return x.error();
    if constexpr (std::is_floating_point_v<T>) {
        v.f = double(*x);
    } else if constexpr (std::is_signed_v<T>) {
        v.i = int64(*x);
        v.u = *x >= 0 ? uint64(*x) : 0;
        v.f = double(*x);
    } else {
        v.u = uint64(*x);
        v.i = int64(*x);
        v.f = double(*x);
    }
    return {};
}

// n f32 / f64 elements into v.arr_f (as doubles).
ExpectedVoid read_float_elements(Cursor& c, GGUFValue& v, uint64 n, const std::string& field) {
    v.arr_f.resize(n);
    if (v.elem_type == GGUFType::F32) {
        std::vector<float> tmp(n);
        VKS_TRY(c.read(tmp.data(), n * 4, field));
        for (uint64 k = 0; k < n; ++k) v.arr_f[k] = tmp[k];
    } else {
        VKS_TRY(c.read(v.arr_f.data(), n * 8, field));
    }
    return {};
}

// n integer / bool elements into v.arr_i (widened to int64).
ExpectedVoid read_integer_elements(Cursor& c, GGUFValue& v, uint64 n, const std::string& field) {
    v.arr_i.resize(n);
    size_t es = gguf_scalar_size(v.elem_type);
    std::vector<uint8> raw(n * es);
    VKS_TRY(c.read(raw.data(), raw.size(), field));
    for (uint64 k = 0; k < n; ++k) {
        const uint8* p = raw.data() + k * es;
        int64 x = 0;
        switch (v.elem_type) {
            case GGUFType::U8: x = *p; break;
            case GGUFType::BOOL: x = *p != 0; break;
            case GGUFType::I8: { int8_t t; std::memcpy(&t, p, 1); x = t; break; }
            case GGUFType::U16: { uint16 t; std::memcpy(&t, p, 2); x = t; break; }
            case GGUFType::I16: { int16_t t; std::memcpy(&t, p, 2); x = t; break; }
            case GGUFType::U32: { uint32 t; std::memcpy(&t, p, 4); x = t; break; }
            case GGUFType::I32: { int32 t; std::memcpy(&t, p, 4); x = t; break; }
            case GGUFType::U64: case GGUFType::I64: { std::memcpy(&x, p, 8); break; }
            default: break;
        }
        v.arr_i[k] = x;
    }
    return {};
}

Expected<GGUFValue> read_array(Cursor& c, const std::string& field, uint32 depth) {
    if (depth >= GGUFLimits::kMaxArrayDepth) return c.err(field, "arrays nested too deeply");
    GGUFValue v;
    v.type = GGUFType::ARRAY;
    auto et = c.get<uint32>(field + " (array element type)");
    if (!et) return et.error();
    if (!valid_type(*et)) return c.err(field, "unknown array element type " + std::to_string(*et));
    v.elem_type = GGUFType(*et);
    auto n = c.get<uint64>(field + " (array length)");
    if (!n) return n.error();
    // Every element takes at least one byte (strings: 8), so a count beyond the remaining
    // bytes is a lie; reject it before reserving memory.
    uint64 min_elem = v.elem_type == GGUFType::STRING ? 8 : v.elem_type == GGUFType::ARRAY ? 12 : gguf_scalar_size(v.elem_type);
    if (*n > c.remaining() / std::max<uint64>(min_elem, 1))
        return c.err(field, "array length " + std::to_string(*n) + " past end of file");
    v.arr_len = *n;
    // Memory per element as stored: the std::string / GGUFValue object, or a widened scalar.
    uint64 mem_elem = v.elem_type == GGUFType::STRING ? sizeof(std::string) : v.elem_type == GGUFType::ARRAY ? sizeof(GGUFValue) : 8;
    VKS_TRY(c.charge(*n, mem_elem, field));
    switch (v.elem_type) {
        case GGUFType::STRING:
            v.arr_str.reserve(*n);
            for (uint64 k = 0; k < *n; ++k) {
                auto s = c.get_string(field + "[" + std::to_string(k) + "]");
                if (!s) return s.error();
                v.arr_str.push_back(std::move(*s));
            }
            break;
        case GGUFType::ARRAY:
            v.arr.reserve(*n);
            for (uint64 k = 0; k < *n; ++k) {
                auto e = read_array(c, field + "[" + std::to_string(k) + "]", depth + 1);
                if (!e) return e.error();
                v.arr.push_back(std::move(*e));
            }
            break;
        case GGUFType::F32:
        case GGUFType::F64: VKS_TRY(read_float_elements(c, v, *n, field)); break;
        default: VKS_TRY(read_integer_elements(c, v, *n, field));
    }
    return v;
}

Expected<GGUFValue> read_value(Cursor& c, GGUFType type, const std::string& field, uint32 depth) {
    GGUFValue v;
    v.type = type;
    switch (type) {
        case GGUFType::U8: VKS_TRY(read_scalar_into<uint8>(c, v, field)); break;
        case GGUFType::I8: VKS_TRY(read_scalar_into<int8_t>(c, v, field)); break;
        case GGUFType::U16: VKS_TRY(read_scalar_into<uint16>(c, v, field)); break;
        case GGUFType::I16: VKS_TRY(read_scalar_into<int16_t>(c, v, field)); break;
        case GGUFType::U32: VKS_TRY(read_scalar_into<uint32>(c, v, field)); break;
        case GGUFType::I32: VKS_TRY(read_scalar_into<int32>(c, v, field)); break;
        case GGUFType::U64: VKS_TRY(read_scalar_into<uint64>(c, v, field)); break;
        case GGUFType::I64: VKS_TRY(read_scalar_into<int64>(c, v, field)); break;
        case GGUFType::F32: VKS_TRY(read_scalar_into<float>(c, v, field)); break;
        case GGUFType::F64: VKS_TRY(read_scalar_into<double>(c, v, field)); break;
        case GGUFType::BOOL: {
            auto b = c.get<uint8>(field);
            if (!b) return b.error();
            if (*b > 1) return c.err(field, "bool value " + std::to_string(*b) + " is not 0 or 1");
            v.i = *b;
            v.u = *b;
            break;
        }
        case GGUFType::STRING: {
            auto s = c.get_string(field);
            if (!s) return s.error();
            v.str = std::move(*s);
            break;
        }
        case GGUFType::ARRAY: return read_array(c, field, depth);
    }
    return v;
}

bool mul_overflows(uint64 a, uint64 b, uint64& out) { return __builtin_mul_overflow(a, b, &out); }

// The fixed part of the header: magic, version, tensor and metadata counts.
struct Header {
    uint32 version = 0;
    uint64 n_tensors = 0;
    uint64 n_kv = 0;
};

Expected<Header> read_header(Cursor& c, const std::string& fname) {
    auto magic = c.get<uint32>("magic");
    if (!magic) return magic.error();
    if (*magic != kMagic) return make_error(ErrorCode::Format, fname + ": magic: not a GGUF file (bad magic)");
    auto ver = c.get<uint32>("version");
    if (!ver) return ver.error();
    if (*ver != 2 && *ver != 3)
        return make_error(ErrorCode::Unsupported, fname + ": version: unsupported GGUF version " + std::to_string(*ver) + " (supported: 2, 3)");
    auto n_tensors = c.get<uint64>("tensor_count");
    if (!n_tensors) return n_tensors.error();
    auto n_kv = c.get<uint64>("metadata_kv_count");
    if (!n_kv) return n_kv.error();
    // A kv pair takes at least 8 (key len) + 4 (type) + 1 bytes; a tensor info at least 8+4+8+4+8.
    if (*n_kv > c.remaining() / 13) return c.err("metadata_kv_count", "count " + std::to_string(*n_kv) + " past end of file");
    if (*n_tensors > c.remaining() / 32) return c.err("tensor_count", "count " + std::to_string(*n_tensors) + " past end of file");
    return Header{*ver, *n_tensors, *n_kv};
}

ExpectedVoid read_metadata(Cursor& c, uint64 n_kv, std::map<std::string, GGUFValue>& kv) {
    for (uint64 k = 0; k < n_kv; ++k) {
        auto key = c.get_string("metadata key #" + std::to_string(k));
        if (!key) return key.error();
        auto t = c.get<uint32>("metadata '" + *key + "' (type)");
        if (!t) return t.error();
        if (!valid_type(*t)) return c.err("metadata '" + *key + "'", "unknown value type " + std::to_string(*t));
        auto v = read_value(c, GGUFType(*t), "metadata '" + *key + "'", 0);
        if (!v) return v.error();
        if (kv.count(*key)) return c.err("metadata '" + *key + "'", "duplicate key");
        kv.emplace(std::move(*key), std::move(*v));
    }
    return {};
}

// general.alignment (`a`, null when absent: `fallback`) must be a power of two <= 1 MiB.
Expected<uint64> checked_alignment(const GGUFValue* a, uint64 fallback, const std::string& fname) {
    if (!a) return fallback;
    if (!a->is_integer() || a->u == 0 || a->u > GGUFLimits::kMaxAlignment || (a->u & (a->u - 1)) != 0)
        return make_error(ErrorCode::Format, fname + ": metadata 'general.alignment': must be a power of two <= 1 MiB");
    return a->u;
}

// n_dims and the dimensions of tensor `tf` into ti.dims and ti.n_elements.
ExpectedVoid read_dims(Cursor& c, const std::string& tf, GGUFTensorInfo& ti) {
    auto nd = c.get<uint32>(tf + " (n_dims)");
    if (!nd) return nd.error();
    if (*nd == 0 || *nd > GGUFLimits::kMaxDims) return c.err(tf, "n_dims " + std::to_string(*nd) + " not in 1..4");
    uint64 n_el = 1;
    for (uint32 d = 0; d < *nd; ++d) {
        auto dim = c.get<uint64>(tf + " (dim " + std::to_string(d) + ")");
        if (!dim) return dim.error();
        if (*dim == 0 || *dim > GGUFLimits::kMaxDim) return c.err(tf, "dimension " + std::to_string(d) + " = " + std::to_string(*dim) + " out of range");
        if (mul_overflows(n_el, *dim, n_el)) return c.err(tf, "element count overflows");
        ti.dims.push_back(*dim);
    }
    ti.n_elements = n_el;
    return {};
}

// Tensor info #k: name, dimensions, type and offset relative to the data section (its
// file_offset is set once the data section's start is known).
Expected<GGUFTensorInfo> read_tensor_info(Cursor& c, uint64 k, uint64 alignment, bool allow_quantized, const std::string& fname) {
    GGUFTensorInfo ti;
    auto name = c.get_string("tensor #" + std::to_string(k) + " (name)");
    if (!name) return name.error();
    ti.name = std::move(*name);
    const std::string tf = "tensor '" + ti.name + "'";
    VKS_TRY(read_dims(c, tf, ti));
    auto ty = c.get<uint32>(tf + " (type)");
    if (!ty) return ty.error();
    ti.ggml_type = *ty;
    if (*ty == uint32(DType::F32) || *ty == uint32(DType::F16) || *ty == uint32(DType::BF16)) {
        ti.dtype = DType(*ty);
        if (mul_overflows(ti.n_elements, dtype_size(ti.dtype), ti.byte_size)) return c.err(tf, "byte size overflows");
    } else if (!allow_quantized) {
        return make_error(ErrorCode::Unsupported, fname + ": " + tf + ": tensor type " + ggml_type_name(*ty) + " (id " + std::to_string(*ty) +
                                                      ") is not supported: vk_symbiote runs unquantized f32/f16/bf16 weights");
    }
    auto off = c.get<uint64>(tf + " (offset)");
    if (!off) return off.error();
    ti.rel_offset = *off;
    if (ti.rel_offset % alignment != 0)
        return c.err(tf, "offset " + std::to_string(ti.rel_offset) + " is not a multiple of the alignment " + std::to_string(alignment));
    return ti;
}

// Sets file_offset of every tensor whose size is known and checks that their data lies
// inside the file and does not overlap.
ExpectedVoid place_tensor_data(std::vector<GGUFTensorInfo>& tensors, uint64 data_offset, uint64 file_size, const std::string& fname) {
    std::vector<const GGUFTensorInfo*> by_off;
    for (auto& ti : tensors) {
        if (ti.byte_size == 0 && ti.ggml_type != 0) continue;  // quantized, vocab-only use
        uint64 end;
        if (__builtin_add_overflow(data_offset, ti.rel_offset, &ti.file_offset) || __builtin_add_overflow(ti.file_offset, ti.byte_size, &end) ||
            end > file_size)
            return make_error(ErrorCode::Format, fname + ": tensor '" + ti.name + "': data (offset " + std::to_string(ti.rel_offset) + ", " +
                                                     std::to_string(ti.byte_size) + " bytes) past end of file (" + std::to_string(file_size) + " bytes)");
        by_off.push_back(&ti);
    }
    std::sort(by_off.begin(), by_off.end(), [](auto* a, auto* b) { return a->file_offset < b->file_offset; });
    for (size_t k = 1; k < by_off.size(); ++k) {
        if (by_off[k - 1]->file_offset + by_off[k - 1]->byte_size > by_off[k]->file_offset)
            return make_error(ErrorCode::Format, fname + ": tensor '" + by_off[k]->name + "': data overlaps tensor '" + by_off[k - 1]->name + "'");
    }
    return {};
}

}  // namespace

Expected<std::unique_ptr<GGUFLoader>> GGUFLoader::open(const Path& path, GGUFOpenOptions opts) {
    std::unique_ptr<GGUFLoader> l(new GGUFLoader());
    auto f = ReadOnlyFile::open(path, "the model must be a GGUF file");
    if (!f) return f.error();
    l->file_ = std::move(*f);
    VKS_TRY(l->parse(opts));
    return l;
}

ExpectedVoid GGUFLoader::parse(const GGUFOpenOptions& opts) {
    const std::string fname = path().string();
    const uint64 file_size = file_->size();
    Cursor c(file_->fd(), file_size, fname);
    auto header = read_header(c, fname);
    if (!header) return header.error();
    version_ = header->version;
    VKS_TRY(read_metadata(c, header->n_kv, kv_));
    auto alignment = checked_alignment(find("general.alignment"), alignment_, fname);
    if (!alignment) return alignment.error();
    alignment_ = *alignment;

    tensors_.reserve(header->n_tensors);
    for (uint64 k = 0; k < header->n_tensors; ++k) {
        auto ti = read_tensor_info(c, k, alignment_, opts.allow_quantized, fname);
        if (!ti) return ti.error();
        if (tensor_index_.count(ti->name)) return c.err("tensor '" + ti->name + "'", "duplicate tensor name");
        tensor_index_[ti->name] = tensors_.size();
        tensors_.push_back(std::move(*ti));
    }

    // The data section starts at the next multiple of the alignment after the header.
    data_offset_ = (c.pos() + alignment_ - 1) / alignment_ * alignment_;
    if (!tensors_.empty() && data_offset_ > file_size)
        return make_error(ErrorCode::Format, fname + ": data section: starts at " + std::to_string(data_offset_) + " past end of file (" + std::to_string(file_size) + " bytes)");
    return place_tensor_data(tensors_, data_offset_, file_size, fname);
}

const GGUFTensorInfo* GGUFLoader::find_tensor(const std::string& name) const {
    auto it = tensor_index_.find(name);
    return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

ExpectedVoid GGUFLoader::read_range(uint64 off, uint64 size, void* dst) const { return file_->read_range(off, size, dst); }

Expected<std::vector<uint8>> GGUFLoader::header_bytes() const {
    std::vector<uint8> head(data_offset_);
    VKS_TRY(read_range(0, head.size(), head.data()));
    return head;
}

ExpectedVoid GGUFLoader::check_unchanged() const { return file_->check_unchanged(); }

}  // namespace vk_symbiote
