#include "model/HfTokenizerConfig.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "model/HfJson.h"
#include "model/Tokenizer.h"

namespace vk_symbiote {

namespace {

using namespace hf_json;

constexpr uint64 kMaxFileBytes = 64ull << 20;

// A file of the folder that may be absent: null when it is.
Expected<Json> optional_file(const Path& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return Json();
    auto j = parse_file(path, kMaxFileBytes);
    if (!j) return j.error();
    if (!j->is_object()) return make_error(ErrorCode::Format, path.string() + ": expected a JSON object");
    return j;
}

// A special token as transformers saves it: its text, or an AddedToken object with "content".
Expected<std::optional<std::string>> token_text(const Json& j, const char* key, const std::string& where) {
    auto it = j.find(key);
    if (it == j.end() || it->is_null()) return std::optional<std::string>();
    if (it->is_string()) return std::optional<std::string>(it->get<std::string>());
    if (it->is_object()) {
        auto content = string_at(*it, "content", field(where, key));
        if (!content) return content.error();
        return std::optional<std::string>(*content);
    }
    return make_error(ErrorCode::Format, field(where, key) + ": expected a string, an object with \"content\" or null");
}

ExpectedVoid read_special_tokens(const Json& j, const std::string& where, HfTokenizerConfig& c) {
    struct Row {
        const char* key;
        std::optional<std::string>* dst;
    };
    for (const Row& r : {Row{"bos_token", &c.bos_token}, Row{"eos_token", &c.eos_token}, Row{"unk_token", &c.unk_token},
                         Row{"pad_token", &c.pad_token}}) {
        if (*r.dst) continue;  // an earlier file named it
        auto t = token_text(j, r.key, where);
        if (!t) return t.error();
        *r.dst = *t;
    }
    return {};
}

// "chat_template": a string, or a list of {"name", "template"} of which "default" is used.
Expected<std::optional<std::string>> chat_template(const Json& j, const std::string& where) {
    auto it = j.find("chat_template");
    if (it == j.end() || it->is_null()) return std::optional<std::string>();
    if (it->is_string()) return std::optional<std::string>(it->get<std::string>());
    if (!it->is_array()) return make_error(ErrorCode::Format, field(where, "chat_template") + ": expected a string or a list");
    for (size_t i = 0; i < it->size(); ++i) {
        const std::string at = item(field(where, "chat_template"), i);
        if (!(*it)[i].is_object()) return make_error(ErrorCode::Format, at + ": expected an object");
        auto name = string_at((*it)[i], "name", at);
        if (!name) return name.error();
        if (*name != "default") continue;
        auto tmpl = string_at((*it)[i], "template", at);
        if (!tmpl) return tmpl.error();
        return std::optional<std::string>(*tmpl);
    }
    return std::optional<std::string>();
}

ExpectedVoid read_added_tokens_decoder(const Json& j, const std::string& where, std::vector<HfAddedToken>& out) {
    auto it = j.find("added_tokens_decoder");
    if (it == j.end() || it->is_null()) return {};
    const std::string at = field(where, "added_tokens_decoder");
    if (!it->is_object()) return make_error(ErrorCode::Format, at + ": expected an object");
    for (const auto& [key, entry] : it->items()) {
        const std::string e = at + "['" + key + "']";
        char* end = nullptr;
        const unsigned long long id = std::strtoull(key.c_str(), &end, 10);
        if (key.empty() || *end != '\0' || id >= kNoTokenId) return make_error(ErrorCode::Format, e + ": the key is not a token id");
        if (!entry.is_object()) return make_error(ErrorCode::Format, e + ": expected an object");
        HfAddedToken t;
        t.id = static_cast<uint32>(id);
        auto content = string_at(entry, "content", e);
        if (!content) return content.error();
        t.content = *content;
        for (auto [key2, dst] : {std::pair{"special", &t.special}, std::pair{"lstrip", &t.lstrip}, std::pair{"rstrip", &t.rstrip},
                                 std::pair{"single_word", &t.single_word}, std::pair{"normalized", &t.normalized}}) {
            auto v = bool_or(entry, key2, false, e);
            if (!v) return v.error();
            *dst = *v;
        }
        out.push_back(std::move(t));
    }
    return {};
}

ExpectedVoid read_tokenizer_config(const Json& j, const std::string& where, HfTokenizerConfig& c) {
    VKS_TRY(read_special_tokens(j, where, c));
    for (auto [key, dst] : {std::pair{"add_bos_token", &c.add_bos_token}, std::pair{"add_eos_token", &c.add_eos_token}}) {
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) continue;
        if (!it->is_boolean()) return make_error(ErrorCode::Format, field(where, key) + ": expected true, false or null");
        *dst = it->get<bool>();
    }
    auto tmpl = chat_template(j, where);
    if (!tmpl) return tmpl.error();
    c.chat_template = *tmpl;
    return read_added_tokens_decoder(j, where, c.added_tokens);
}

// added_tokens.json: {"<text>": id, ...}; ids already described by added_tokens_decoder keep
// that description.
ExpectedVoid read_added_tokens_json(const Json& j, const std::string& where, std::vector<HfAddedToken>& out) {
    for (const auto& [text, id_json] : j.items()) {
        if (text.empty()) return make_error(ErrorCode::Format, where + " an empty token text");
        auto id = token_id(id_json, field(where, text.c_str()));
        if (!id) return id.error();
        if (std::any_of(out.begin(), out.end(), [&](const HfAddedToken& t) { return t.id == *id; })) continue;
        HfAddedToken t;
        t.id = *id;
        t.content = text;
        out.push_back(std::move(t));
    }
    return {};
}

ExpectedVoid read_generation_config(const Json& j, const std::string& where, HfTokenizerConfig& c) {
    auto eos = j.find("eos_token_id");
    if (eos != j.end() && !eos->is_null()) {
        const Json list = eos->is_array() ? *eos : Json::array({*eos});
        for (size_t i = 0; i < list.size(); ++i) {
            auto id = token_id(list[i], eos->is_array() ? item(field(where, "eos_token_id"), i) : field(where, "eos_token_id"));
            if (!id) return id.error();
            c.eos_token_ids.push_back(*id);
        }
    }
    for (auto [key, dst] : {std::pair{"bos_token_id", &c.bos_token_id}, std::pair{"pad_token_id", &c.pad_token_id}}) {
        auto it = j.find(key);
        if (it == j.end() || it->is_null()) continue;
        auto id = token_id(*it, field(where, key));
        if (!id) return id.error();
        *dst = *id;
    }
    return {};
}

Expected<std::optional<std::string>> read_text_file(const Path& path) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return std::optional<std::string>();
    if (!std::filesystem::is_regular_file(path, ec) || std::filesystem::file_size(path, ec) > kMaxFileBytes)
        return make_error(ErrorCode::Format, path.string() + ": not a regular file of at most 64 MiB");
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) return make_error(ErrorCode::Io, path.string() + ": read failed");
    return std::optional<std::string>(text.str());
}

}  // namespace

Expected<HfTokenizerConfig> read_hf_tokenizer_config(const Path& dir) {
    HfTokenizerConfig c;
    auto tc = optional_file(dir / "tokenizer_config.json");
    auto stm = optional_file(dir / "special_tokens_map.json");
    auto gc = optional_file(dir / "generation_config.json");
    auto at = optional_file(dir / "added_tokens.json");
    auto jinja = read_text_file(dir / "chat_template.jinja");
    if (!tc) return tc.error();
    if (!stm) return stm.error();
    if (!gc) return gc.error();
    if (!at) return at.error();
    if (!jinja) return jinja.error();
    if (!tc->is_null()) VKS_TRY(read_tokenizer_config(*tc, (dir / "tokenizer_config.json").string() + ":", c));
    if (!stm->is_null()) VKS_TRY(read_special_tokens(*stm, (dir / "special_tokens_map.json").string() + ":", c));
    if (!gc->is_null()) VKS_TRY(read_generation_config(*gc, (dir / "generation_config.json").string() + ":", c));
    if (!at->is_null()) VKS_TRY(read_added_tokens_json(*at, (dir / "added_tokens.json").string() + ":", c.added_tokens));
    if (*jinja) c.chat_template = *jinja;
    std::sort(c.added_tokens.begin(), c.added_tokens.end(), [](const HfAddedToken& a, const HfAddedToken& b) { return a.id < b.id; });
    return c;
}

}  // namespace vk_symbiote
