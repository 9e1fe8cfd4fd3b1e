#include "model/SentencePieceModel.h"

#include <cstring>
#include <fstream>
#include <sstream>

namespace vk_symbiote {

namespace {

constexpr uint64 kMaxFileBytes = 256ull << 20;  // real models are a few MiB

// One field of a protobuf message (wire types 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32).
struct WireField {
    uint32 number = 0;
    uint8 wire = 0;
    uint64 varint = 0;       // wire 0
    uint32 fixed32 = 0;      // wire 5
    std::string_view bytes;  // wire 2
};

// Walks the fields of one message, checking every length against the bytes that are left.
class WireReader {
public:
    explicit WireReader(std::string_view data) : data_(data) {}
    bool done() const { return pos_ >= data_.size(); }
    // The next field; an error text (without context) for malformed input.
    Expected<WireField> next() {
        auto key = varint();
        if (!key) return key.error();
        WireField f;
        f.number = static_cast<uint32>(*key >> 3);
        f.wire = static_cast<uint8>(*key & 7);
        if (f.wire == 0) {
            auto v = varint();
            if (!v) return v.error();
            f.varint = *v;
        } else if (f.wire == 1 || f.wire == 5) {
            const size_t n = f.wire == 1 ? 8 : 4;
            if (data_.size() - pos_ < n) return fail("field " + std::to_string(f.number) + " runs past the end");
            if (f.wire == 5) std::memcpy(&f.fixed32, data_.data() + pos_, 4);  // little-endian host
            pos_ += n;
        } else if (f.wire == 2) {
            auto len = varint();
            if (!len) return len.error();
            if (*len > data_.size() - pos_) return fail("field " + std::to_string(f.number) + " runs past the end");
            f.bytes = data_.substr(pos_, *len);
            pos_ += *len;
        } else {
            return fail("field " + std::to_string(f.number) + " has wire type " + std::to_string(f.wire) + ", not supported");
        }
        return f;
    }

private:
    static Error fail(const std::string& what) { return make_error(ErrorCode::Format, what); }
    Expected<uint64> varint() {
        uint64 v = 0;
        for (int shift = 0; shift < 70; shift += 7) {
            if (pos_ >= data_.size()) return fail("a number runs past the end");
            const uint8 b = static_cast<uint8>(data_[pos_++]);
            v |= uint64(b & 0x7F) << shift;
            if (!(b & 0x80)) return v;
        }
        return fail("a number is longer than 10 bytes");
    }
    std::string_view data_;
    size_t pos_ = 0;
};

// The fields of TrainerSpec and NormalizerSpec that decide how text is encoded (with the
// protobuf defaults sentencepiece declares).
struct Spec {
    uint64 model_type = 1;  // 1 UNIGRAM, 2 BPE, 3 WORD, 4 CHAR
    bool whitespace_as_suffix = false;
    int64 unk = 0, bos = 1, eos = 2, pad = -1;
    std::string charsmap_name;
    bool has_charsmap = false;
    bool add_dummy_prefix = true, remove_extra_whitespaces = true, escape_whitespaces = true;
};

Error field_error(const std::string& file, const std::string& field, const Error& e) {
    return make_error(e.code, file + ": " + field + ": " + e.message);
}

Expected<std::string> read_file(const Path& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return make_error(ErrorCode::NotFound, path.string() + ": not a regular file");
    const uint64 size = std::filesystem::file_size(path, ec);
    if (ec || size > kMaxFileBytes)
        return make_error(ErrorCode::Format, path.string() + ": size " + std::to_string(size) + " is not that of a SentencePiece model");
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) return make_error(ErrorCode::Io, path.string() + ": read failed");
    return text.str();
}

// SentencePiece {1: piece, 2: score, 3: type} -> one token.
Expected<TokenizerParts::Token> read_piece(std::string_view msg) {
    static const uint32 kAttr[] = {token_attr::kNormal, token_attr::kNormal,      token_attr::kUnknown, token_attr::kControl,
                                   token_attr::kUserDefined, token_attr::kUnused, token_attr::kByte};
    TokenizerParts::Token t;
    WireReader r(msg);
    while (!r.done()) {
        auto f = r.next();
        if (!f) return f.error();
        if (f->number == 1 && f->wire == 2) t.text = std::string(f->bytes);
        if (f->number == 2 && f->wire == 5) std::memcpy(&t.score, &f->fixed32, 4);
        if (f->number == 3 && f->wire == 0) {
            if (f->varint < 1 || f->varint > 6) return make_error(ErrorCode::Format, "type " + std::to_string(f->varint) + " is not a piece type");
            t.attr = kAttr[f->varint];
        }
    }
    if (t.text.empty()) return make_error(ErrorCode::Format, "empty piece");
    return t;
}

ExpectedVoid read_trainer_spec(std::string_view msg, Spec& s) {
    WireReader r(msg);
    while (!r.done()) {
        auto f = r.next();
        if (!f) return f.error();
        if (f->wire != 0) continue;
        const int64 v = static_cast<int64>(static_cast<int32>(f->varint));  // int32 fields: negatives are 10-byte varints
        switch (f->number) {
            case 3: s.model_type = f->varint; break;
            case 24: s.whitespace_as_suffix = f->varint != 0; break;
            case 40: s.unk = v; break;
            case 41: s.bos = v; break;
            case 42: s.eos = v; break;
            case 43: s.pad = v; break;
            default: break;
        }
    }
    return {};
}

ExpectedVoid read_normalizer_spec(std::string_view msg, Spec& s) {
    WireReader r(msg);
    while (!r.done()) {
        auto f = r.next();
        if (!f) return f.error();
        if (f->number == 1 && f->wire == 2) s.charsmap_name = std::string(f->bytes);
        if (f->number == 2 && f->wire == 2) s.has_charsmap = !f->bytes.empty();
        if (f->wire != 0) continue;
        if (f->number == 3) s.add_dummy_prefix = f->varint != 0;
        if (f->number == 4) s.remove_extra_whitespaces = f->varint != 0;
        if (f->number == 5) s.escape_whitespaces = f->varint != 0;
    }
    return {};
}

// Refuses what the Spm tokenizer would not encode as SentencePiece does.
ExpectedVoid check_spec(const Spec& s, const std::string& file) {
    static const char* kTypes[] = {"?", "UNIGRAM", "BPE", "WORD", "CHAR"};
    if (s.model_type != 2)
        return make_error(ErrorCode::Unsupported, file + ": trainer_spec.model_type " +
                                                      (s.model_type <= 4 ? kTypes[s.model_type] : std::to_string(s.model_type)) +
                                                      " is not supported (only BPE)");
    if (s.whitespace_as_suffix)
        return make_error(ErrorCode::Unsupported, file + ": trainer_spec.treat_whitespace_as_suffix is not supported");
    if (s.has_charsmap)
        return make_error(ErrorCode::Unsupported, file + ": normalizer_spec: the normalization rule '" + s.charsmap_name +
                                                      "' is not supported (only identity)");
    if (s.remove_extra_whitespaces)
        return make_error(ErrorCode::Unsupported, file + ": normalizer_spec.remove_extra_whitespaces is not supported");
    if (!s.escape_whitespaces)
        return make_error(ErrorCode::Unsupported, file + ": normalizer_spec.escape_whitespaces = false is not supported");
    return {};
}

uint32 id_or_none(int64 id, size_t n) { return id >= 0 && uint64(id) < n ? static_cast<uint32>(id) : kNoTokenId; }

}  // namespace

Expected<TokenizerParts> read_sentencepiece_model(const Path& path) {
    const std::string file = path.string();
    auto data = read_file(path);
    if (!data) return data.error();
    TokenizerParts parts;
    parts.file = file;
    parts.type = TokenizerType::Spm;
    Spec spec;
    WireReader r(*data);
    while (!r.done()) {
        auto f = r.next();
        if (!f) return field_error(file, "ModelProto", f.error());
        if (f->wire != 2) continue;
        if (f->number == 1) {
            auto piece = read_piece(f->bytes);
            if (!piece) return field_error(file, "pieces[" + std::to_string(parts.tokens.size()) + "]", piece.error());
            parts.tokens.push_back(std::move(*piece));
        } else if (f->number == 2) {
            if (auto e = read_trainer_spec(f->bytes, spec); !e) return field_error(file, "trainer_spec", e.error());
        } else if (f->number == 3) {
            if (auto e = read_normalizer_spec(f->bytes, spec); !e) return field_error(file, "normalizer_spec", e.error());
        }
    }
    if (parts.tokens.empty()) return make_error(ErrorCode::Format, file + ": no pieces: not a SentencePiece model");
    VKS_TRY(check_spec(spec, file));
    const size_t n = parts.tokens.size();
    parts.unk = id_or_none(spec.unk, n), parts.bos = id_or_none(spec.bos, n);
    parts.eos = id_or_none(spec.eos, n), parts.pad = id_or_none(spec.pad, n);
    if (parts.bos != kNoTokenId) parts.prefix.push_back(parts.bos);  // SentencePiece models add BOS unless configured otherwise
    parts.add_space_prefix = spec.add_dummy_prefix;
    return parts;
}

}  // namespace vk_symbiote
