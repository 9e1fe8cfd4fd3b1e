// Template: a Jinja template parsed once and rendered any number of times, as Hugging Face's
// chat-template environment renders it (Jinja2's sandbox with trim_blocks, lstrip_blocks and
// loop controls; raise_exception, strftime_now and HF's tojson). The grammar and what each
// part implements: Lexer.h, Parser.h, Filters.h, Tests.h, Methods.h, Globals.h.
//
//   auto t = jinja::Template::parse(source, "tokenizer.chat_template");
//   auto text = t->render({{"messages", msgs}, {"add_generation_prompt", true}});
//
// Errors name the template, the line and the column: a syntax error from parse(); a runtime
// error, a raise_exception() from the template (its message last), or a limit (RenderOptions)
// from render(). A parsed Template is immutable: render() may run on several threads at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "template/RenderOptions.h"
#include "vk_symbiote/Common.h"

namespace vk_symbiote::jinja {

// The largest template source parse() accepts (real chat templates are tens of KiB).
inline constexpr size_t kMaxTemplateBytes = size_t(1) << 20;

class Template {
public:
    // `name` names the template in every error message (a file path, a GGUF key, ...).
    static Expected<Template> parse(std::string_view source, std::string name);

    // `variables`: a JSON object; each member is a template variable (JSON null is none; a
    // member that is absent is undefined). Object members keep their order.
    Expected<std::string> render(const nlohmann::ordered_json& variables, const RenderOptions& options = {}) const;

    const std::string& name() const;

private:
    struct Program;
    explicit Template(std::shared_ptr<const Program> p) : program_(std::move(p)) {}
    std::shared_ptr<const Program> program_;
};

}  // namespace vk_symbiote::jinja
