// Tokenizer: text <-> token ids. Built from GGUF metadata as llama.cpp's llama-vocab.cpp does
// (its outputs are our test vectors, ../shared/tokenizer-tests): "llama" = SentencePiece
// (leading space, U+2581, best-score merges, <0xXX> byte fallback); "gpt2" = byte-level BPE
// after a PreTokenizer. Special tokens are cut out first (USER_DEFINED always, CONTROL /
// UNKNOWN only with parse_special). Hugging Face folders build one from TokenizerParts
// (model/HfTokenizerFolder.h): a tokenizer.model is SentencePiece as above, a tokenizer.json
// runs its own pipeline (model/HfPipeline.h). decode(encode(s, false, false)) == s for valid
// UTF-8 (no "clean_spaces" rewriting). Immutable once built; TokenStreamDecoder is per-stream
// state and must not outlive its Tokenizer.
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

class ModelSource;
class HfPipeline;

// Spm: best-score merges (GGUF "llama", tokenizer.model); Bpe: byte-level rank merges (GGUF
// "gpt2"); Json: a tokenizer.json pipeline (normalizer, pre-tokenizer, BPE model, decoder).
enum class TokenizerType : uint8 { Spm, Bpe, Json };

// Token attributes (llama.cpp's LLAMA_TOKEN_ATTR_* bits, from tokenizer.ggml.token_type).
namespace token_attr {
inline constexpr uint32 kUndefined = 0;
inline constexpr uint32 kUnknown = 1u << 0;
inline constexpr uint32 kUnused = 1u << 1;
inline constexpr uint32 kNormal = 1u << 2;
inline constexpr uint32 kControl = 1u << 3;
inline constexpr uint32 kUserDefined = 1u << 4;
inline constexpr uint32 kByte = 1u << 5;
// Matching rules of special / user-defined tokens (Hugging Face AddedToken flags): the token
// also takes the whitespace on its left (lstrip) or right (rstrip).
inline constexpr uint32 kLstrip = 1u << 7;
inline constexpr uint32 kRstrip = 1u << 8;
}  // namespace token_attr

// Where decoded text starts: at the start of a text (SPM's added leading space is dropped),
// or in the middle of one, e.g. generated tokens after a prompt (every byte is kept).
enum class DecodeStart : uint8 { TextStart, Continuation };

inline constexpr uint32 kNoTokenId = 0xFFFFFFFFu;

// A tokenizer read from Hugging Face files (tokenizer.model, tokenizer.json and the configs
// beside them): what the readers hand to Tokenizer::from_parts. Ids index `tokens`.
struct TokenizerParts {
    struct Token {
        std::string text;  // as the vocabulary stores it ("" for an id no file names)
        float score = 0.0f;
        uint32 attr = token_attr::kNormal;
    };
    std::string file;  // named in messages
    TokenizerType type = TokenizerType::Spm;
    std::vector<Token> tokens;
    // Json only: the encoding pipeline, and every token's bytes after the file's decoder.
    std::shared_ptr<const HfPipeline> pipeline;
    std::vector<std::string> pieces;
    // Spm: U+2581 before the text; Json: the decoder drops the prefix space its encoder added.
    // Either way decode() drops one leading space at the start of a text.
    bool add_space_prefix = false;
    std::vector<uint32> prefix, suffix;  // ids encode(add_special = true) puts around the text
    uint32 bos = kNoTokenId, eos = kNoTokenId, unk = kNoTokenId, pad = kNoTokenId;
    std::vector<uint32> eog;  // end-of-generation ids besides EOS (generation_config.json)
    std::optional<std::string> chat_template;
};

class Tokenizer {
public:
    static constexpr uint32 kNoToken = kNoTokenId;

    // Reads tokenizer.ggml.* from the file's metadata (tensors are not touched, so vocab-only
    // files work). Errors name the file and the key.
    static Expected<std::unique_ptr<Tokenizer>> from_gguf(const ModelSource& gguf);
    // Checks the parts (ids in range, Json parts complete) and builds the tokenizer; errors
    // name parts.file.
    static Expected<std::unique_ptr<Tokenizer>> from_parts(TokenizerParts parts);

    // add_special: add the tokens the model puts around a text (BOS / EOS as the metadata says;
    // a tokenizer.json's post-processor); parse_special: recognise the text of CONTROL tokens
    // (e.g. "<|im_start|>"; a tokenizer.json's special added tokens) as those tokens.
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
    bool add_bos() const { return add_bos_; }  // encode(add_special = true) starts with BOS
    bool add_eos() const { return add_eos_; }  // ... and ends with EOS
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
    ExpectedVoid load_tokens(const ModelSource& gguf);
    ExpectedVoid load_merges(const ModelSource& gguf);
    ExpectedVoid load_special_ids(const ModelSource& gguf);
    ExpectedVoid take_parts(TokenizerParts& parts);
    void build_byte_tokens();
    void finish_special_tokens();

    uint32 lookup(std::string_view text) const;  // kNoToken if absent
    std::vector<Fragment> partition_special(std::string_view text, bool parse_special) const;
    void encode_fragments(std::string_view text, bool parse_special, std::vector<uint32>& out) const;
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
    std::vector<uint32> prefix_, suffix_;    // around the text with add_special (BOS / EOS / template)
    std::shared_ptr<const HfPipeline> pipeline_;  // Json: encodes the text between prefix_ and suffix_
    std::vector<std::string> pieces_;        // Json: bytes of each token after the file's decoder
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
