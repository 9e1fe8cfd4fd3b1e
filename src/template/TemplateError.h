// Errors inside the template engine. The lexer, parser and interpreter throw TemplateError
// (an exception, so that the deeply recursive evaluation reads as plain expressions); it never
// leaves the engine: Template::parse and Template::render catch it and return an Error that
// names the template, the line and the column.
#pragma once

#include <stdexcept>
#include <string>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::jinja {

// 1-based line and column (in bytes) in the template source; line 0 = not known yet.
struct SourcePos {
    uint32 line = 0;
    uint32 col = 0;
};

enum class TemplateErrorKind : uint8 {
    Syntax,       // the template cannot be parsed
    Unsupported,  // valid Jinja that this engine does not implement (e.g. include)
    Runtime,      // evaluation failed (type error, undefined value, unknown filter, ...)
    Raised,       // the template called raise_exception(message)
    Limit,        // a render limit was hit (steps, output size, nesting)
};

class TemplateError : public std::runtime_error {
public:
    TemplateError(TemplateErrorKind kind, std::string message, SourcePos pos = {})
        : std::runtime_error(message), kind_(kind), message_(std::move(message)), pos_(pos) {}

    TemplateErrorKind kind() const { return kind_; }
    const std::string& message() const { return message_; }
    SourcePos pos() const { return pos_; }
    // The innermost node that sees the error names the position; outer ones keep it.
    void set_pos_if_unknown(SourcePos p) {
        if (pos_.line == 0) pos_ = p;
    }

private:
    TemplateErrorKind kind_;
    std::string message_;
    SourcePos pos_;
};

[[noreturn]] inline void runtime_error(std::string message) { throw TemplateError(TemplateErrorKind::Runtime, std::move(message)); }

}  // namespace vk_symbiote::jinja
