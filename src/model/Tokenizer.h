// Tokenizer: text <-> token ids for Llama-family GGUF models, built from the GGUF metadata as
// llama.cpp's llama-vocab.cpp does (its outputs are our test vectors, ../shared/tokenizer-tests):
// "llama" = SentencePiece (leading space, U+2581, best-score merges, <0xXX> byte fallback);
// "gpt2" = byte-level BPE after a PreTokenizer. Special tokens are cut out first (USER_DEFINED
// always, CONTROL / UNKNOWN only with parse_special). decode(encode(s, false, false)) == s for
// valid UTF-8 (no "clean_spaces" rewriting). Immutable after from_gguf(); TokenStreamDecoder is
// per-stream state and must not outlive its Tokenizer.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "model/PreTokenizer.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote {

class GGUFLoader;

enum class TokenizerType : uint8 { Spm, Bpe };

// Token attributes (llama.cpp's LLAMA_TOKEN_ATTR_* bits, from tokenizer.ggml.token_type).
namespace token_attr {
inline constexpr uint32 kUndefined = 0;
inline constexpr uint32 kUnknown = 1u << 0;
inline constexpr uint32 kUnused = 1u << 1;
inline constexpr uint32 kNormal = 1u << 2;
inline constexpr uint32 kControl = 1u << 3;
inline constexpr uint32 kUserDefined = 1u << 4;
inline constexpr uint32 kByte = 1u << 5;
}  // namespace token_attr

// Where decoded text starts: at the start of a text (SPM's added leading space is dropped),
// or in the middle of one, e.g. generated tokens after a prompt (every byte is kept).
enum class DecodeStart : uint8 { TextStart, Continuation };

class Tokenizer {
public:
    static constexpr uint32 kNoToken = 0xFFFFFFFFu;

    // Reads tokenizer.ggml.* from the file's metadata (tensors are not touched, so vocab-only
    // files work). Errors name the file and the key.
    static Expected<std::unique_ptr<Tokenizer>> from_gguf(const GGUFLoader& gguf);

    // add_special: add BOS/EOS as the model's metadata says; parse_special: recognise the text
    // of CONTROL tokens (e.g. "<|im_start|>") as those tokens.
    std::vector<uint32> encode(std::string_view text, bool add_special, bool parse_special) const;
    std::string token_to_piece(uint32 id) const;  // raw bytes of one token, control tokens as text ("" if out of range)
    // Control / unknown tokens render as nothing; for SPM the leading space encode() added is dropped.
    std::string decode(const std::vector<uint32>& ids) const { return decode(ids, DecodeStart::TextStart); }
    std::string decode(const std::vector<uint32>& ids, DecodeStart start) const;

    uint32 n_vocab() const { return static_cast<uint32>(tokens_.size()); }
    uint32 bos_id() const { return bos_; }  // kNoToken if the vocabulary has none
    uint32 eos_id() const { return eos_; }  // kNoToken if the vocabulary has none
    std::optional<uint32> eot_id() const;
    std::optional<uint32> unk_id() const { return opt(unk_); }
    std::optional<uint32> pad_id() const { return opt(pad_); }
    std::optional<uint32> sep_id() const { return opt(sep_); }
    bool add_bos() const { return add_bos_; }
    bool add_eos() const { return add_eos_; }
    bool is_eog(uint32 id) const;  // EOS, EOT, EOM and other end-of-generation tokens
    const std::optional<std::string>& chat_template() const { return chat_template_; }

    TokenizerType type() const { return type_; }
    bool add_space_prefix() const { return add_space_prefix_; }
    std::optional<uint32> token_id(std::string_view text) const;  // exact token text lookup
    const std::string& token_text(uint32 id) const;               // as stored ("" if out of range)
    uint32 token_attributes(uint32 id) const;                      // token_attr bits
    const std::vector<uint32>& eog_ids() const { return eog_; }

private:
    friend class TokenStreamDecoder;
    struct TokenData {
        std::string text;
        float score = 0.0f;
        uint32 attr = token_attr::kNormal;
    };
    // Heterogeneous lookup: find by string_view without building a std::string.
    struct StrHash {
        using is_transparent = void;
        size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
    };
    using StrMap = std::unordered_map<std::string, uint32, StrHash, std::equal_to<>>;
    struct Fragment;

    Tokenizer() = default;
    static std::optional<uint32> opt(uint32 id) { return id == kNoToken ? std::nullopt : std::optional<uint32>(id); }
    ExpectedVoid load_tokens(const GGUFLoader& gguf);
    ExpectedVoid load_merges(const GGUFLoader& gguf);
    ExpectedVoid load_special_ids(const GGUFLoader& gguf);
    void finish_special_tokens();

    uint32 lookup(std::string_view text) const;  // kNoToken if absent
    std::vector<Fragment> partition_special(std::string_view text, bool parse_special) const;
    void encode_spm(std::string_view text, std::vector<uint32>& out) const;
    void encode_bpe(std::string_view text, std::vector<uint32>& out) const;
    void encode_bpe_word(std::string_view word, std::vector<uint32>& out) const;
    int bpe_rank(std::string_view left, std::string_view right) const;  // -1 if not a merge
    // Appends the bytes of token `id`; control/unknown tokens only when `special`.
    void append_piece(uint32 id, bool special, std::string& out) const;

    TokenizerType type_ = TokenizerType::Spm;
    std::string file_;
    std::vector<TokenData> tokens_;
    StrMap token_to_id_;
    StrMap bpe_ranks_;                       // "left right" -> merge rank (BPE)
    std::optional<PreTokenizer> pre_;        // BPE only
    std::vector<uint32> byte_tokens_;        // SPM: byte value -> <0xXX> token (kNoToken if none)
    std::vector<uint32> special_cache_;      // CONTROL/USER_DEFINED/UNKNOWN ids, longest text first
    std::vector<uint32> eog_;                // sorted
    uint32 bos_ = kNoToken, eos_ = kNoToken, eot_ = kNoToken, eom_ = kNoToken, unk_ = kNoToken;
    uint32 pad_ = kNoToken, sep_ = kNoToken;
    bool add_bos_ = false, add_eos_ = false, add_space_prefix_ = false, ignore_merges_ = false;
    std::optional<std::string> chat_template_;
};

// Incremental detokenizer for streaming output: push() returns the bytes that are ready and
// holds back the start of a UTF-8 character until its remaining bytes arrive, so no output
// chunk ever ends inside a character. The concatenation of every push() plus flush() equals
// tokenizer.decode(ids, start).
class TokenStreamDecoder {
public:
    explicit TokenStreamDecoder(const Tokenizer& tok, DecodeStart start = DecodeStart::TextStart)
        : tok_(tok), strip_space_(start == DecodeStart::TextStart && tok.add_space_prefix()) {}
    std::string push(uint32 id);
    std::string flush();  // whatever is held back (an incomplete sequence at end of stream)

private:
    const Tokenizer& tok_;
    bool strip_space_;
    std::string pending_;
};

}  // namespace vk_symbiote
