#include "gguf/GGUFWriter.h"

#include <algorithm>
#include <cstring>

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
    // resize + memcpy rather than insert: GCC 12 reports a false stringop-overflow for an
    // insert into the empty vector once header_bytes() inlines it.
    if (n == 0) return *this;
    const size_t at = bytes.size();
    bytes.resize(at + n);
    std::memcpy(bytes.data() + at, p, n);
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

}  // namespace

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

    auto w = StreamedFileWriter::create(path, total, progress);
    if (!w) return w.error();
    VKS_TRY((*w)->put(header.data(), header.size()));
    uint64 pos = 0;  // relative to the data section
    for (size_t k = 0; k < tensors_.size(); ++k) {
        VKS_TRY((*w)->zeros(offs[k] - pos));
        VKS_TRY((*w)->fill(tensors_[k].byte_size, tensors_[k].fill, "tensor '" + tensors_[k].name + "'"));
        pos = offs[k] + tensors_[k].byte_size;
    }
    return (*w)->commit();
}

}  // namespace vk_symbiote
