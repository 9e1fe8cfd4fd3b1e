// libFuzzer target for the chat-template engine (templates come from model files and, later,
// from HTTP clients): the input is a template source, optionally followed by "\n@@VARS@@\n"
// and a JSON object of variables. It is parsed, and when it parses, rendered under small
// limits. Any crash, sanitizer report, leak or uncaught exception is a bug; errors returned as
// Expected are the expected outcome for most inputs.
#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "template/Template.h"

using namespace vk_symbiote;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const size_t split = input.find("\n@@VARS@@\n");
    const std::string_view source = input.substr(0, split);
    nlohmann::ordered_json vars = {{"messages", nlohmann::ordered_json::array({{{"role", "system"}, {"content", "Be brief."}},
                                                                              {{"role", "user"}, {"content", "Hi <b>"}},
                                                                              {{"role", "assistant"}, {"content", "<think>x</think>\n\nHello"}}})},
                                   {"add_generation_prompt", true}, {"bos_token", "<s>"}, {"eos_token", "</s>"}, {"tools", nullptr}};
    if (split != std::string_view::npos) {
        auto parsed = nlohmann::ordered_json::parse(input.substr(split + 10), nullptr, /*allow_exceptions=*/false);
        if (parsed.is_object()) vars = std::move(parsed);
    }
    auto tmpl = jinja::Template::parse(source, "fuzz");
    if (!tmpl) return 0;
    jinja::RenderOptions limits;
    limits.max_steps = 200'000;
    limits.max_output_bytes = 1 << 20;
    limits.now = jinja::civil_time(2025, 3, 14);
    (void)tmpl->render(vars, limits);
    return 0;
}
