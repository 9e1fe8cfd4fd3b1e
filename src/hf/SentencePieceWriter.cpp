#include "hf/SentencePieceWriter.h"

#include <cstring>

namespace vk_symbiote {

namespace {

// Protobuf wire format: varints, keys (field << 3 | wire type), length-delimited fields.
struct Proto {
    std::vector<uint8> bytes;

    void varint(uint64 v) {
        do {
            bytes.push_back(uint8((v & 0x7f) | (v >= 0x80 ? 0x80 : 0)));
            v >>= 7;
        } while (v != 0);
    }
    void key(uint32 field, uint32 wire) { varint(uint64(field) << 3 | wire); }
    void integer(uint32 field, int64 v) { key(field, 0), varint(uint64(v)); }  // int32 -1: ten bytes, as protobuf writes it
    void f32(uint32 field, float v) {
        key(field, 5);
        uint8 b[4];
        std::memcpy(b, &v, 4);
        bytes.insert(bytes.end(), b, b + 4);
    }
    void text(uint32 field, const std::string& s) { message(field, std::vector<uint8>(s.begin(), s.end())); }
    void message(uint32 field, const std::vector<uint8>& m) {
        key(field, 2);
        varint(m.size());
        bytes.insert(bytes.end(), m.begin(), m.end());
    }
};

std::vector<uint8> piece_bytes(const SentencePiece& p) {
    Proto m;
    m.text(1, p.text);
    m.f32(2, p.score);
    if (p.type != 1) m.integer(3, p.type);  // NORMAL is the default and left out
    return m.bytes;
}

std::vector<uint8> trainer_spec(const SentencePieceModel& model) {
    Proto t;
    t.integer(3, 2);  // model_type BPE
    t.integer(4, int64(model.pieces.size()));
    t.integer(35, 1);  // byte_fallback
    t.integer(40, model.unk_id);
    t.integer(41, model.bos_id);
    t.integer(42, model.eos_id);
    t.integer(43, -1);  // pad_id: none
    return t.bytes;
}

std::vector<uint8> normalizer_spec(const SentencePieceModel& model) {
    Proto n;
    n.text(1, "identity");
    n.text(2, "");  // precompiled_charsmap: no normalization rules
    n.integer(3, model.add_dummy_prefix ? 1 : 0);
    n.integer(4, 0);  // remove_extra_whitespaces: keep spaces as written
    return n.bytes;
}

}  // namespace

std::vector<uint8> sentencepiece_model_bytes(const SentencePieceModel& model) {
    Proto m;
    for (const auto& p : model.pieces) m.message(1, piece_bytes(p));
    m.message(2, trainer_spec(model));
    m.message(3, normalizer_spec(model));
    return m.bytes;
}

}  // namespace vk_symbiote
