#include "template/CallArgs.h"

#include "template/TemplateError.h"

namespace vk_symbiote::jinja {

std::vector<Value> bind_args(const CallArgs& args, std::initializer_list<Param> params, std::string_view what) {
    const std::string callee(what);
    if (args.positional.size() > params.size())
        runtime_error(callee + " takes at most " + std::to_string(params.size()) + " argument(s), " + std::to_string(args.positional.size()) + " given");
    std::vector<Value> out(params.size());
    std::vector<bool> given(params.size(), false);
    for (size_t i = 0; i < args.positional.size(); ++i) {
        out[i] = args.positional[i];
        given[i] = true;
    }
    for (const auto& [name, value] : args.keyword) {
        size_t i = 0;
        for (const Param& p : params) {
            if (p.name == name) break;
            ++i;
        }
        if (i == params.size()) runtime_error(callee + " got an unexpected keyword argument '" + name + "'");
        if (given[i]) runtime_error(callee + " got multiple values for argument '" + name + "'");
        out[i] = value;
        given[i] = true;
    }
    size_t i = 0;
    for (const Param& p : params) {
        if (!given[i]) {
            if (p.required) runtime_error(callee + " is missing the required argument '" + std::string(p.name) + "'");
            out[i] = p.fallback;
        }
        ++i;
    }
    return out;
}

void expect_no_args(const CallArgs& args, std::string_view what) {
    if (!args.positional.empty() || !args.keyword.empty()) runtime_error(std::string(what) + " takes no arguments");
}

}  // namespace vk_symbiote::jinja
