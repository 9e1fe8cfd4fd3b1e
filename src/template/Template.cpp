#include "template/Template.h"

#include <new>

#include "template/Globals.h"
#include "template/Interpreter.h"
#include "template/Lexer.h"
#include "template/Parser.h"
#include "template/ValueFormat.h"

namespace vk_symbiote::jinja {

struct Template::Program {
    std::string name;
    Body body;
};

namespace {

ErrorCode error_code(TemplateErrorKind k) {
    switch (k) {
        case TemplateErrorKind::Syntax: return ErrorCode::Format;
        case TemplateErrorKind::Unsupported: return ErrorCode::Unsupported;
        default: return ErrorCode::InvalidArgument;
    }
}

// "template 'NAME' line 3, column 12: MESSAGE"; a raise_exception() message comes last, as
// the template wrote it.
Error to_error(const std::string& name, const TemplateError& e) {
    std::string where = "template '" + name + "'";
    if (e.pos().line > 0) where += " line " + std::to_string(e.pos().line) + ", column " + std::to_string(e.pos().col);
    switch (e.kind()) {
        case TemplateErrorKind::Raised: return make_error(error_code(e.kind()), where + ": the template raised an error: " + e.message());
        case TemplateErrorKind::Limit: return make_error(error_code(e.kind()), where + ": render limit: " + e.message());
        default: return make_error(error_code(e.kind()), where + ": " + e.message());
    }
}

}  // namespace

Expected<Template> Template::parse(std::string_view source, std::string name) {
    if (source.size() > kMaxTemplateBytes)
        return make_error(ErrorCode::InvalidArgument, "template '" + name + "': " + std::to_string(source.size()) + " bytes, more than the " +
                                                          std::to_string(kMaxTemplateBytes) + " a template may have");
    try {
        auto p = std::make_shared<Program>();
        p->body = parse_template(tokenize(source));
        p->name = std::move(name);
        return Template(std::move(p));
    } catch (const TemplateError& e) {
        return to_error(name, e);
    } catch (const std::bad_alloc&) {
        return make_error(ErrorCode::OutOfMemory, "template '" + name + "': out of memory while parsing");
    }
}

Expected<std::string> Template::render(const nlohmann::ordered_json& variables, const RenderOptions& options) const {
    const std::string& tname = program_->name;
    if (!variables.is_object()) return make_error(ErrorCode::InvalidArgument, "template '" + tname + "': the variables must be a JSON object");
    try {
        auto globals = std::make_shared<Scope>();
        define_globals(*globals);
        for (const auto& [key, value] : variables.items()) globals->set(key, from_json(value));
        Interpreter in(options);
        return in.render(program_->body, std::move(globals));
    } catch (const TemplateError& e) {
        return to_error(tname, e);
    } catch (const std::bad_alloc&) {
        return make_error(ErrorCode::OutOfMemory, "template '" + tname + "': out of memory while rendering");
    }
}

const std::string& Template::name() const { return program_->name; }

}  // namespace vk_symbiote::jinja
