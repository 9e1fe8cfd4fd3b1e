#include "model/ChatTemplate.h"

#include "model/Tokenizer.h"

namespace vk_symbiote {

namespace {

// The special tokens of the vocabulary, one per line: the text the fallback's markers are
// looked for in.
std::string special_token_text(const Tokenizer& tok) {
    std::string out;
    for (uint32 id = 0; id < tok.n_vocab(); ++id)
        if (tok.token_attributes(id) & (token_attr::kControl | token_attr::kUserDefined)) out += tok.token_text(id) + "\n";
    return out;
}

}  // namespace

nlohmann::ordered_json special_token_variables(const Tokenizer& tok) {
    nlohmann::ordered_json v = nlohmann::ordered_json::object();
    auto add = [&](const char* name, std::optional<uint32> id) {
        if (id && *id != Tokenizer::kNoToken && *id < tok.n_vocab()) v[name] = tok.token_text(*id);
    };
    add("bos_token", tok.bos_id());
    add("eos_token", tok.eos_id());
    add("unk_token", tok.unk_id());
    add("pad_token", tok.pad_id());
    return v;
}

Expected<ChatTemplate> ChatTemplate::for_model(const Tokenizer& tok, const std::string& model_name) {
    if (tok.chat_template() && !tok.chat_template()->empty()) {
        auto t = from_jinja(*tok.chat_template(), model_name + ": tokenizer.chat_template", special_token_variables(tok));
        if (!t) return Error{t.error().code, t.error().message + " (--chat-template-file can supply a template that works)"};
        return t;
    }
    return from_format(detect_chat_format(special_token_text(tok)));
}

Expected<ChatTemplate> ChatTemplate::from_jinja(std::string_view source, std::string name, nlohmann::ordered_json special_tokens) {
    auto t = jinja::Template::parse(source, std::move(name));
    if (!t) return Error{t.error().code, "chat " + t.error().message};
    ChatTemplate c;
    c.jinja_ = std::move(*t);
    c.special_tokens_ = std::move(special_tokens);
    return c;
}

namespace {

// tokenizer_config.json's chat_template: the string, or the "default" one of a named list.
Expected<std::string> config_template_source(const nlohmann::ordered_json& config, const std::string& name) {
    const auto it = config.find("chat_template");
    if (it == config.end() || it->is_null()) return make_error(ErrorCode::NotFound, name + ": no chat_template");
    if (it->is_string()) return it->get<std::string>();
    if (!it->is_array()) return make_error(ErrorCode::Format, name + ": chat_template must be a string or a list of named templates");
    std::string names;
    for (const auto& t : *it) {
        if (!t.is_object() || !t.contains("name") || !t["name"].is_string() || !t.contains("template") || !t["template"].is_string())
            return make_error(ErrorCode::Format, name + ": each chat_template entry needs a string \"name\" and \"template\"");
        if (t["name"] == "default") return t["template"].get<std::string>();
        names += (names.empty() ? "" : ", ") + t["name"].get<std::string>();
    }
    return make_error(ErrorCode::NotFound, name + ": no chat_template named 'default' (there are: " + names + ")");
}

}  // namespace

Expected<ChatTemplate> ChatTemplate::from_tokenizer_config(const nlohmann::ordered_json& config, const std::string& name) {
    if (!config.is_object()) return make_error(ErrorCode::Format, name + ": not a JSON object");
    auto source = config_template_source(config, name);
    if (!source) return source.error();
    nlohmann::ordered_json tokens = nlohmann::ordered_json::object();
    for (const char* key : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
        const auto it = config.find(key);
        if (it == config.end() || it->is_null()) continue;
        if (it->is_string()) tokens[key] = *it;
        else if (it->is_object() && it->contains("content") && (*it)["content"].is_string()) tokens[key] = (*it)["content"];
        else return make_error(ErrorCode::Format, name + ": " + key + " must be a string or an object with a string \"content\"");
    }
    return from_jinja(*source, name + ": chat_template", std::move(tokens));
}

ChatTemplate ChatTemplate::from_format(ChatFormat f) {
    ChatTemplate c;
    c.format_ = f;
    return c;
}

Expected<std::string> ChatTemplate::render(const nlohmann::ordered_json& messages, const ChatRenderOptions& o) const {
    if (!messages.is_array()) return make_error(ErrorCode::InvalidArgument, "chat messages must be a JSON array");
    if (!jinja_) return render_fallback(messages, o.add_generation_prompt);
    if (!o.variables.is_object()) return make_error(ErrorCode::InvalidArgument, "chat template variables must be a JSON object");
    // As apply_chat_template passes them: special tokens, the caller's variables, then these.
    nlohmann::ordered_json vars = special_tokens_;
    for (const auto& [k, v] : o.variables.items()) vars[k] = v;
    vars["messages"] = messages;
    vars["tools"] = o.tools;
    if (!vars.contains("documents")) vars["documents"] = nullptr;
    vars["add_generation_prompt"] = o.add_generation_prompt;
    auto out = jinja_->render(vars, o.limits);
    if (!out) return Error{out.error().code, "chat " + out.error().message};
    return out;
}

Expected<std::string> ChatTemplate::render_fallback(const nlohmann::ordered_json& messages, bool add_generation_prompt) const {
    std::vector<ChatMessage> msgs;
    for (size_t i = 0; i < messages.size(); ++i) {
        const auto& m = messages[i];
        const bool ok = m.is_object() && m.contains("role") && m["role"].is_string() && m.contains("content") &&
                        (m["content"].is_string() || m["content"].is_null());
        if (!ok)
            return make_error(ErrorCode::InvalidArgument, "chat message " + std::to_string(i) + ": the " + chat_format_name(format_) +
                                                              " fallback format needs a string \"role\" and a string \"content\"");
        msgs.push_back({m["role"].get<std::string>(), m["content"].is_null() ? "" : m["content"].get<std::string>()});
    }
    return format_chat(format_, msgs, add_generation_prompt);
}

std::string ChatTemplate::describe() const {
    if (jinja_) return "the Jinja chat template " + jinja_->name();
    if (format_ == ChatFormat::Plain) return "no chat template in the model and no known chat markers in its vocabulary: a plain User:/Assistant: transcript";
    return std::string("no chat template in the model: the ") + chat_format_name(format_) + " format its vocabulary's special tokens suggest";
}

}  // namespace vk_symbiote
