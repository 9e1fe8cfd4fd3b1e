#include "hf/SafetensorsFile.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "hf/StrictJson.h"

namespace vk_symbiote {

namespace {

using nlohmann::json;

constexpr uint64 kMaxNameBytes = 4096;

Error bad(const std::string& where, const std::string& what) { return make_error(ErrorCode::Format, where + ": " + what); }

// Safetensors dtypes the engine does not run: refused by name, unlike unknown strings.
bool is_known_unsupported_dtype(const std::string& s) {
    static const char* const kNames[] = {"BOOL", "U8", "I8", "I16", "U16", "I32", "U32", "I64", "U64", "F64", "C64",
                                         "F8_E5M2", "F8_E4M3", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4"};
    return std::any_of(std::begin(kNames), std::end(kNames), [&](const char* n) { return s == n; });
}

Expected<DType> parse_dtype(const json& v, const std::string& where) {
    if (!v.is_string()) return bad(where, std::string("'dtype' is ") + json_kind(v) + ", expected a string");
    const std::string s = v.get<std::string>();
    for (DType d : {DType::F32, DType::F16, DType::BF16})
        if (s == safetensors_dtype_name(d)) return d;
    if (is_known_unsupported_dtype(s))
        return make_error(ErrorCode::Unsupported, where + ": dtype '" + s + "' is not supported (only F32, F16 and BF16 weights; quantized checkpoints are not)");
    return bad(where, "unknown dtype '" + s.substr(0, 64) + "'");
}

// Non-negative integer below `limit`, or an error naming `field`.
Expected<uint64> parse_count(const json& v, uint64 limit, const std::string& where, const std::string& field) {
    if (!v.is_number_unsigned() && !(v.is_number_integer() && v.get<int64>() >= 0))
        return bad(where, "'" + field + "' is " + json_kind(v) + ", expected a non-negative integer");
    const uint64 n = v.get<uint64>();
    if (n > limit) return bad(where, "'" + field + "' is " + std::to_string(n) + ", above the limit " + std::to_string(limit));
    return n;
}

ExpectedVoid parse_shape(const json& v, SafetensorsTensor& t, const std::string& where) {
    if (!v.is_array()) return bad(where, std::string("'shape' is ") + json_kind(v) + ", expected an array");
    if (v.size() > SafetensorsLimits::kMaxDims) return bad(where, "'shape' has " + std::to_string(v.size()) + " dimensions, at most 8 are allowed");
    t.n_elements = 1;
    for (size_t k = 0; k < v.size(); ++k) {
        auto d = parse_count(v[k], SafetensorsLimits::kMaxDim, where, "shape[" + std::to_string(k) + "]");
        if (!d) return d.error();
        if (__builtin_mul_overflow(t.n_elements, *d, &t.n_elements)) return bad(where, "'shape': element count overflows 64 bits");
        t.shape.push_back(*d);
    }
    if (__builtin_mul_overflow(t.n_elements, uint64(dtype_size(t.dtype)), &t.byte_size)) return bad(where, "'shape': byte size overflows 64 bits");
    return {};
}

// data_offsets [begin, end) inside the data section: in range and exactly dtype x shape bytes.
ExpectedVoid parse_offsets(const json& v, uint64 data_offset, uint64 data_size, SafetensorsTensor& t, const std::string& where) {
    if (!v.is_array() || v.size() != 2) return bad(where, "'data_offsets' must be an array of two integers [begin, end]");
    auto b = parse_count(v[0], UINT64_MAX, where, "data_offsets[0]");
    if (!b) return b.error();
    auto e = parse_count(v[1], UINT64_MAX, where, "data_offsets[1]");
    if (!e) return e.error();
    if (*b > data_size || *e > data_size)
        return bad(where, "'data_offsets' [" + std::to_string(*b) + ", " + std::to_string(*e) + "] run past the end of the data section (" +
                              std::to_string(data_size) + " bytes)");
    if (*e < *b) return bad(where, "'data_offsets' [" + std::to_string(*b) + ", " + std::to_string(*e) + "] end before they begin");
    if (*e - *b != t.byte_size)
        return bad(where, "dtype " + std::string(dtype_name(t.dtype)) + " x shape is " + std::to_string(t.byte_size) + " bytes but 'data_offsets' span " +
                              std::to_string(*e - *b));
    t.file_offset = data_offset + *b;
    return {};
}

Expected<SafetensorsTensor> parse_tensor(const std::string& name, const json& v, uint64 data_offset, uint64 data_size, const std::string& fname) {
    const std::string where = fname + ": tensor '" + name + "'";
    if (name.empty() || name.size() > kMaxNameBytes) return bad(fname, "a tensor name is empty or longer than 4096 bytes");
    if (!v.is_object()) return bad(where, std::string("entry is ") + json_kind(v) + ", expected an object");
    for (auto it = v.begin(); it != v.end(); ++it)
        if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets") return bad(where, "unexpected field '" + it.key().substr(0, 64) + "'");
    for (const char* f : {"dtype", "shape", "data_offsets"})
        if (!v.contains(f)) return bad(where, std::string("field '") + f + "' is missing");
    SafetensorsTensor t;
    t.name = name;
    auto dt = parse_dtype(v["dtype"], where);
    if (!dt) return dt.error();
    t.dtype = *dt;
    VKS_TRY(parse_shape(v["shape"], t, where));
    VKS_TRY(parse_offsets(v["data_offsets"], data_offset, data_size, t, where));
    return t;
}

Expected<std::map<std::string, std::string>> parse_metadata(const json& v, const std::string& fname) {
    const std::string where = fname + ": '__metadata__'";
    if (!v.is_object()) return bad(where, std::string("is ") + json_kind(v) + ", expected an object of strings");
    std::map<std::string, std::string> m;
    for (auto it = v.begin(); it != v.end(); ++it) {
        if (!it.value().is_string()) return bad(where, "value of '" + it.key().substr(0, 64) + "' is " + json_kind(it.value()) + ", expected a string");
        m[it.key()] = it.value().get<std::string>();
    }
    return m;
}

// The tensors (sorted by offset) must tile [0, data_size) of the data section exactly.
ExpectedVoid check_tiling(const std::vector<SafetensorsTensor>& ts, uint64 data_offset, uint64 data_size, const std::string& fname) {
    uint64 pos = 0;  // relative to the data section
    const SafetensorsTensor* prev = nullptr;
    for (const auto& t : ts) {
        const uint64 begin = t.file_offset - data_offset;
        if (begin < pos)
            return bad(fname, "tensors '" + prev->name + "' and '" + t.name + "' overlap (bytes " + std::to_string(begin) + ".." + std::to_string(pos) + " of the data section)");
        if (begin > pos) return bad(fname, "bytes " + std::to_string(pos) + ".." + std::to_string(begin) + " of the data section belong to no tensor (before '" + t.name + "')");
        pos = begin + t.byte_size;
        prev = &t;
    }
    if (pos != data_size)
        return bad(fname, std::to_string(data_size - pos) + " bytes after the last tensor belong to no tensor (data section of " + std::to_string(data_size) + " bytes)");
    return {};
}

}  // namespace

const char* safetensors_dtype_name(DType d) { return d == DType::F32 ? "F32" : d == DType::F16 ? "F16" : "BF16"; }

Expected<SafetensorsHeader> parse_safetensors_header(std::string_view text, uint64 data_offset, uint64 data_size, const std::string& fname) {
    if (text.find_first_not_of(" \t\r\n") == std::string_view::npos || text[text.find_first_not_of(" \t\r\n")] != '{')
        return bad(fname, "header does not start with '{' (not a safetensors file?)");
    auto j = parse_json_strict(text, fname + ": header", SafetensorsLimits::kMaxJsonDepth);
    if (!j) return j.error();
    SafetensorsHeader h;
    for (auto it = j->begin(); it != j->end(); ++it) {
        if (it.key() == "__metadata__") {
            auto m = parse_metadata(it.value(), fname);
            if (!m) return m.error();
            h.metadata = std::move(*m);
            continue;
        }
        auto t = parse_tensor(it.key(), it.value(), data_offset, data_size, fname);
        if (!t) return t.error();
        h.tensors.push_back(std::move(*t));
    }
    std::sort(h.tensors.begin(), h.tensors.end(), [](const auto& a, const auto& b) {
        return a.file_offset != b.file_offset ? a.file_offset < b.file_offset : a.byte_size < b.byte_size;
    });
    VKS_TRY(check_tiling(h.tensors, data_offset, data_size, fname));
    return h;
}

Expected<std::unique_ptr<SafetensorsFile>> SafetensorsFile::open(const Path& path) {
    std::unique_ptr<SafetensorsFile> f(new SafetensorsFile());
    auto file = ReadOnlyFile::open(path, "expected a .safetensors file");
    if (!file) return file.error();
    f->file_ = std::move(*file);
    VKS_TRY(f->parse());
    return f;
}

ExpectedVoid SafetensorsFile::parse() {
    const std::string fname = path().string();
    const uint64 size = file_size();
    if (size < 8) return bad(fname, "file of " + std::to_string(size) + " bytes is too short for the 8-byte header length");
    uint8 le[8];
    VKS_TRY(read_range(0, 8, le));
    uint64 n = 0;
    for (int k = 7; k >= 0; --k) n = (n << 8) | le[k];
    if (n > SafetensorsLimits::kMaxHeaderBytes)
        return bad(fname, "header length " + std::to_string(n) + " exceeds the limit of " + std::to_string(SafetensorsLimits::kMaxHeaderBytes) + " bytes");
    if (n > size - 8) return bad(fname, "header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(size) + " bytes)");
    std::string text(size_t(n), '\0');
    VKS_TRY(read_range(8, n, text.data()));
    data_offset_ = 8 + n;
    auto h = parse_safetensors_header(text, data_offset_, size - data_offset_, fname);
    if (!h) return h.error();
    header_ = std::move(*h);
    for (size_t k = 0; k < header_.tensors.size(); ++k) index_[header_.tensors[k].name] = k;
    return {};
}

const SafetensorsTensor* SafetensorsFile::find(const std::string& name) const {
    auto it = index_.find(name);
    return it == index_.end() ? nullptr : &header_.tensors[it->second];
}

Expected<std::vector<uint8>> SafetensorsFile::read_tensor(const std::string& name) const {
    const SafetensorsTensor* t = find(name);
    if (!t) return make_error(ErrorCode::NotFound, path().string() + ": no tensor '" + name + "'");
    std::vector<uint8> bytes(size_t(t->byte_size));
    VKS_TRY(read_range(t->file_offset, t->byte_size, bytes.data()));
    return bytes;
}

}  // namespace vk_symbiote
