#include "model/HfTokenizerJson.h"

#include "model/HfDecoder.h"
#include "model/HfJson.h"
#include "model/HfPipeline.h"

namespace vk_symbiote {

namespace {

using namespace hf_json;

constexpr uint64 kMaxFileBytes = 256ull << 20;  // real tokenizer.json files are tens of MiB; parsed, ten times that

// The BPE model's vocabulary by id ("" for ids it does not use). Ids must be below `max_ids`
// (the number of vocabulary and added entries), which keeps a hostile id from sizing the table.
Expected<std::vector<std::string>> read_vocab(const Json& model, size_t max_ids, const std::string& where) {
    auto vocab = object_at(model, "vocab", where);
    if (!vocab) return vocab.error();
    const std::string at = field(where, "vocab");
    std::vector<std::string> by_id((*vocab)->size());
    for (const auto& [text, id_json] : (*vocab)->items()) {
        auto id = token_id(id_json, at + "['" + text + "']");
        if (!id) return id.error();
        if (*id >= max_ids)
            return make_error(ErrorCode::Format, at + "['" + text + "']: id " + std::to_string(*id) + " is not below the " +
                                                     std::to_string(max_ids) + " entries of the vocabulary and added tokens");
        if (*id >= by_id.size()) by_id.resize(*id + 1);
        if (!by_id[*id].empty() || text.empty())
            return make_error(ErrorCode::Format, at + "['" + text + "']: id " + std::to_string(*id) + " is used twice or the text is empty");
        by_id[*id] = text;
    }
    return by_id;
}

Expected<HfAddedToken> read_added_token(const Json& j, const std::string& where) {
    if (!j.is_object()) return make_error(ErrorCode::Format, where + ": expected an object");
    HfAddedToken t;
    if (!j.contains("id")) return make_error(ErrorCode::Format, field(where, "id") + ": required field missing");
    auto id = token_id(j["id"], field(where, "id"));
    auto content = string_at(j, "content", where);
    if (!id) return id.error();
    if (!content) return content.error();
    t.id = *id;
    t.content = *content;
    struct Flag {
        const char* key;
        bool* dst;
    };
    for (const Flag& f : {Flag{"special", &t.special}, Flag{"lstrip", &t.lstrip}, Flag{"rstrip", &t.rstrip},
                          Flag{"single_word", &t.single_word}, Flag{"normalized", &t.normalized}}) {
        auto v = bool_or(j, f.key, false, where);
        if (!v) return v.error();
        *f.dst = *v;
    }
    if (t.content.empty()) return make_error(ErrorCode::Format, field(where, "content") + ": empty");
    return t;
}

Expected<std::vector<HfAddedToken>> read_added_tokens(const Json& root, const std::string& file) {
    std::vector<HfAddedToken> out;
    auto it = root.find("added_tokens");
    if (it == root.end() || it->is_null()) return out;
    const std::string where = file + ": added_tokens";
    if (!it->is_array()) return make_error(ErrorCode::Format, where + ": expected an array");
    for (size_t i = 0; i < it->size(); ++i) {
        auto t = read_added_token((*it)[i], item(where, i));
        if (!t) return t.error();
        out.push_back(std::move(*t));
    }
    return out;
}

// The token table: the model's vocabulary, then the added tokens (which must agree with it
// where both name an id or a text).
Expected<std::vector<TokenizerParts::Token>> build_tokens(const std::vector<std::string>& vocab, const std::vector<HfAddedToken>& added,
                                                          const HfBpeModel& model, const std::string& file) {
    size_t n = vocab.size();
    for (const HfAddedToken& t : added) n = std::max<size_t>(n, size_t(t.id) + 1);
    if (n > vocab.size() + added.size())
        return make_error(ErrorCode::Format, file + ": added_tokens: ids leave gaps past the vocabulary (largest id " + std::to_string(n - 1) + ")");
    std::vector<TokenizerParts::Token> tokens(n);
    std::unordered_map<std::string_view, uint32> model_ids;
    for (uint32 id = 0; id < vocab.size(); ++id) {
        tokens[id].text = vocab[id];
        tokens[id].attr = vocab[id].empty() ? token_attr::kUnused : token_attr::kNormal;
        const bool byte = vocab[id].size() == 6 && vocab[id].rfind("<0x", 0) == 0 && vocab[id][5] == '>';
        if (model.byte_fallback() && byte) tokens[id].attr = token_attr::kByte;
        if (!vocab[id].empty()) model_ids.emplace(vocab[id], id);
    }
    for (uint32 id = static_cast<uint32>(vocab.size()); id < n; ++id) tokens[id].attr = token_attr::kUnused;
    if (model.unk_id() != kNoTokenId) tokens[model.unk_id()].attr = token_attr::kUnknown;
    for (const HfAddedToken& t : added) {
        auto same = model_ids.find(t.content);
        if ((same != model_ids.end() && same->second != t.id) || (t.id < vocab.size() && !vocab[t.id].empty() && vocab[t.id] != t.content))
            return make_error(ErrorCode::Format, file + ": added_tokens: '" + t.content + "' (id " + std::to_string(t.id) +
                                                     ") disagrees with the model's vocabulary");
        tokens[t.id].text = t.content;
        if (t.id != model.unk_id()) tokens[t.id].attr = t.special ? token_attr::kControl : token_attr::kUserDefined;
    }
    return tokens;
}

// The ids of one "SpecialToken" item of a template: special_tokens[name].ids.
Expected<std::vector<uint32>> special_token_ids(const Json& item_json, const Json& specials, const std::string& where,
                                                const std::string& at) {
    if (!item_json.contains("SpecialToken")) return make_error(ErrorCode::Format, at + ": expected SpecialToken or Sequence");
    auto name = string_at(item_json["SpecialToken"], "id", field(at, "SpecialToken"));
    if (!name) return name.error();
    if (!specials.contains(*name)) return make_error(ErrorCode::Format, at + ": '" + *name + "' is not in special_tokens");
    auto ids = array_at(specials[*name], "ids", field(where, "special_tokens") + "['" + *name + "']");
    if (!ids) return ids.error();
    std::vector<uint32> out;
    for (const Json& id_json : **ids) {
        auto id = token_id(id_json, at);
        if (!id) return id.error();
        out.push_back(*id);
    }
    return out;
}

// TemplateProcessing's "single" template: special tokens before and after the sequence A.
ExpectedVoid read_template(const Json& j, const std::string& where, std::vector<uint32>& prefix, std::vector<uint32>& suffix) {
    auto single = array_at(j, "single", where);
    auto specials = object_at(j, "special_tokens", where);
    if (!single) return single.error();
    if (!specials) return specials.error();
    bool seen_text = false;
    for (size_t i = 0; i < (*single)->size(); ++i) {
        const Json& piece = (**single)[i];
        const std::string at = item(field(where, "single"), i);
        if (piece.contains("Sequence")) {
            auto id = string_at(piece["Sequence"], "id", field(at, "Sequence"));
            if (!id) return id.error();
            if (*id != "A" || seen_text) return make_error(ErrorCode::Format, at + ": the single-sequence template must name sequence A once");
            seen_text = true;
            continue;
        }
        auto ids = special_token_ids(piece, **specials, where, at);
        if (!ids) return ids.error();
        std::vector<uint32>& dst = seen_text ? suffix : prefix;
        dst.insert(dst.end(), ids->begin(), ids->end());
    }
    if (!seen_text) return make_error(ErrorCode::Format, field(where, "single") + ": no sequence A");
    return {};
}

// The post-processor: the ids add_special puts before and after the text. ByteLevel adds none.
ExpectedVoid read_post_processor(const Json& j, const std::string& where, std::vector<uint32>& prefix, std::vector<uint32>& suffix) {
    if (j.is_null()) return {};
    auto type = type_of(j, where);
    if (!type) return type.error();
    if (*type == "ByteLevel") return {};
    if (*type == "TemplateProcessing") return read_template(j, where, prefix, suffix);
    if (*type != "Sequence") return unsupported_type(where, *type, "TemplateProcessing, ByteLevel, Sequence");
    auto list = array_at(j, "processors", where);
    if (!list) return list.error();
    for (size_t i = 0; i < (*list)->size(); ++i)
        VKS_TRY(read_post_processor((**list)[i], item(field(where, "processors"), i), prefix, suffix));
    return {};
}

const Json& member_or_null(const Json& j, const char* key) {
    static const Json null;
    auto it = j.find(key);
    return it == j.end() ? null : *it;
}

// "truncation" and "padding" change what encode returns; only null (off) is supported.
ExpectedVoid refuse_truncation_padding(const Json& root, const std::string& file) {
    for (const char* key : {"truncation", "padding"})
        if (!member_or_null(root, key).is_null())
            return make_error(ErrorCode::Unsupported, file + ": " + key + ": only null is supported (the engine does not cut or pad)");
    return {};
}

// The model (type BPE) and its vocabulary by id; `n_added` added tokens may follow the vocabulary.
Expected<HfBpeModel> read_model(const Json& root, size_t n_added, const std::string& file, std::vector<std::string>& vocab) {
    auto model = object_at(root, "model", file + ":");
    if (!model) return model.error();
    const std::string where = file + ": model";
    auto type = (*model)->contains("type") ? type_of(**model, where) : Expected<std::string>(std::string("BPE"));
    if (!type) return type.error();
    if (*type != "BPE") return unsupported_type(where, *type, "BPE");
    const size_t entries = (*model)->contains("vocab") ? (**model)["vocab"].size() : 0;
    auto v = read_vocab(**model, entries + n_added, where);
    if (!v) return v.error();
    vocab = std::move(*v);
    return HfBpeModel::build(**model, vocab, where);
}

}  // namespace

Expected<TokenizerParts> read_tokenizer_json(const Path& path) {
    const std::string file = path.string();
    auto root = parse_file(path, kMaxFileBytes);
    if (!root) return root.error();
    if (!root->is_object()) return make_error(ErrorCode::Format, file + ": expected a JSON object");
    VKS_TRY(refuse_truncation_padding(*root, file));
    auto added = read_added_tokens(*root, file);
    if (!added) return added.error();
    std::vector<std::string> vocab;
    auto model = read_model(*root, added->size(), file, vocab);
    if (!model) return model.error();
    auto normalizer = HfNormalizer::from_json(member_or_null(*root, "normalizer"), file + ": normalizer");
    auto pre = HfPreTokenizer::from_json(member_or_null(*root, "pre_tokenizer"), file + ": pre_tokenizer");
    auto decoder = HfDecoder::from_json(member_or_null(*root, "decoder"), file + ": decoder");
    if (!normalizer) return normalizer.error();
    if (!pre) return pre.error();
    if (!decoder) return decoder.error();

    TokenizerParts parts;
    parts.file = file;
    parts.type = TokenizerType::Json;
    VKS_TRY(read_post_processor(member_or_null(*root, "post_processor"), file + ": post_processor", parts.prefix, parts.suffix));
    auto tokens = build_tokens(vocab, *added, *model, file);
    if (!tokens) return tokens.error();
    parts.tokens = std::move(*tokens);
    parts.pieces.reserve(parts.tokens.size());
    for (const TokenizerParts::Token& t : parts.tokens) parts.pieces.push_back(decoder->piece(t.text));
    parts.unk = model->unk_id();
    parts.add_space_prefix = decoder->strips_leading_space();
    parts.pipeline = std::make_shared<HfPipeline>(std::move(*added), std::move(*normalizer), std::move(*pre), std::move(*model));
    return parts;
}

}  // namespace vk_symbiote
