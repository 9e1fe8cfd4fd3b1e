#include "template/Parser.h"

#include <algorithm>

// GCC 12 at -O3 reports the moves of std::variant statement nodes below as maybe-uninitialized;
// a false positive (the nodes are fully built before they move), so it is off for this file.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace vk_symbiote::jinja {

namespace {

bool one_of(std::string_view s, std::initializer_list<std::string_view> set) { return std::find(set.begin(), set.end(), s) != set.end(); }

// Valid Jinja that needs other templates or extensions Hugging Face does not enable.
constexpr std::string_view kUnsupportedTags[] = {"include", "import", "from", "extends", "block", "autoescape", "trans", "do"};

// Tags that only close or continue a block.
constexpr std::string_view kInnerTags[] = {"elif", "else", "endif", "endfor", "endset", "endmacro", "endcall",
                                           "endfilter", "endwith", "endgeneration", "endraw"};

}  // namespace

Body parse_template(std::vector<Token> tokens) { return Parser(std::move(tokens)).parse_all(); }

Body Parser::parse_all() {
    Body body = parse_body({}, "");
    for (const UnknownName& u : unknown_)
        if (!u.conditional) fail_at(u.pos, u.message);
    return body;
}

Body Parser::parse_body(std::initializer_list<std::string_view> end_tags, std::string_view opener) {
    Body body;
    while (true) {
        const Token& t = cur();
        if (t.kind == TokenKind::Text) {
            body.push_back(Stmt{t.pos, ast::Text{t.text}});
            next();
        } else if (t.kind == TokenKind::VarBegin) {
            next();
            ExprPtr e = parse_tuple();
            expect(TokenKind::VarEnd);
            body.push_back(Stmt{t.pos, ast::Output{std::move(e)}});
        } else if (t.kind == TokenKind::BlockBegin) {
            if (peek().kind == TokenKind::Name && one_of(peek().text, end_tags)) return body;
            body.push_back(parse_statement());
        } else if (t.kind == TokenKind::End) {
            if (end_tags.size() != 0)
                fail("unexpected end of template: the '" + std::string(opener) + "' block is never closed with '{% " + std::string(*(end_tags.end() - 1)) + " %}'");
            return body;
        } else {
            fail("unexpected " + describe(t));
        }
    }
}

Stmt Parser::parse_statement() {
    next();  // {%
    const Token& tag = cur();
    if (tag.kind != TokenKind::Name) fail("expected a tag name after '{%', got " + describe(tag));
    const std::string name = tag.text;
    NestingGuard depth(block_depth_, kMaxBlockNesting, tag.pos, "blocks");
    if (name == "if") return parse_if();
    if (name == "for") return parse_for();
    if (name == "set") return parse_set();
    if (name == "macro") return parse_macro();
    if (name == "call") return parse_call_block();
    if (name == "filter") return parse_filter_block();
    if (name == "with") return parse_with();
    if (name == "generation") return parse_generation();
    if (name == "break" || name == "continue") return parse_loop_control(name == "break");
    for (std::string_view u : kUnsupportedTags)
        if (name == u) throw TemplateError(TemplateErrorKind::Unsupported, "the '" + name + "' tag is not supported (a chat template renders on its own)", tag.pos);
    for (std::string_view inner : kInnerTags)
        if (name == inner) fail("unexpected '{% " + name + " %}': no open block takes it here");
    fail("unknown tag '" + name + "'");
}

void Parser::end_tag(std::string_view name) {
    expect(TokenKind::BlockBegin);
    if (!is_name(name)) fail("expected '{% " + std::string(name) + " %}', got " + describe(cur()));
    next();
    expect(TokenKind::BlockEnd);
}

Stmt Parser::parse_if() {
    Stmt stmt{cur().pos, ast::If{}};
    auto& node = std::get<ast::If>(stmt.node);
    ++conditional_depth_;
    while (true) {
        next();  // if / elif
        ExprPtr cond = parse_tuple(false);
        expect(TokenKind::BlockEnd);
        Body body = parse_body({"elif", "else", "endif"}, "if");
        node.branches.emplace_back(std::move(cond), std::move(body));
        next();  // {%
        if (is_name("elif")) continue;
        if (skip_name("else")) {
            expect(TokenKind::BlockEnd);
            node.otherwise = parse_body({"endif"}, "if");
            end_tag("endif");
        } else {
            next();  // endif
            expect(TokenKind::BlockEnd);
        }
        break;
    }
    --conditional_depth_;
    return stmt;
}

Stmt Parser::parse_for() {
    Stmt stmt{cur().pos, ast::For{}};
    auto& node = std::get<ast::For>(stmt.node);
    next();  // for
    AssignTarget target = parse_assign_target(false);
    node.targets = std::move(target.names);
    if (!skip_name("in")) fail("expected 'in' in the for loop, got " + describe(cur()));
    node.iter = parse_tuple(false, {"recursive"});
    if (skip_name("if")) node.filter = parse_expression();
    if (is_name("recursive")) throw TemplateError(TemplateErrorKind::Unsupported, "recursive for loops are not supported", cur().pos);
    expect(TokenKind::BlockEnd);
    ++loop_depth_;
    node.body = parse_body({"else", "endfor"}, "for");  // the closing tag last: errors name it
    --loop_depth_;
    next();  // {%
    if (skip_name("else")) {
        expect(TokenKind::BlockEnd);
        node.otherwise = parse_body({"endfor"}, "for");
        end_tag("endfor");
    } else {
        next();  // endfor
        expect(TokenKind::BlockEnd);
    }
    return stmt;
}

Stmt Parser::parse_set() {
    const SourcePos pos = cur().pos;
    next();  // set
    AssignTarget target = parse_assign_target(true);
    if (skip_op("=")) {
        ExprPtr value = parse_tuple();
        expect(TokenKind::BlockEnd);
        return Stmt{pos, ast::Set{std::move(target), std::move(value)}};
    }
    ast::SetBlock node{std::move(target), {}, {}};
    while (skip_op("|")) node.filters.push_back(parse_filter_call());
    expect(TokenKind::BlockEnd);
    node.body = parse_body({"endset"}, "set");
    end_tag("endset");
    return Stmt{pos, std::move(node)};
}

AssignTarget Parser::parse_assign_target(bool allow_attr) {
    AssignTarget t;
    if (allow_attr && cur().kind == TokenKind::Name && peek().kind == TokenKind::Operator && peek().text == ".") {
        t.names.push_back(expect_name("a variable name"));
        next();  // .
        t.attr = expect_name("an attribute name");
        return t;
    }
    const bool paren = skip_op("(");
    do {
        if (cur().kind != TokenKind::Name) break;  // a trailing comma
        std::string name = expect_name("a variable name");
        if (one_of(name, {"true", "false", "none", "True", "False", "None"})) fail("cannot assign to '" + name + "'");
        t.names.push_back(std::move(name));
    } while (skip_op(","));
    if (paren) expect_op(")");
    if (t.names.empty()) fail("expected a variable name, got " + describe(cur()));
    return t;
}

Stmt Parser::parse_macro() {
    const SourcePos pos = cur().pos;
    next();  // macro
    ast::Macro node{std::make_unique<MacroDef>(), std::make_unique<Body>()};
    node.def->name = expect_name("a macro name");
    parse_macro_params(*node.def);
    expect(TokenKind::BlockEnd);
    macros_.push_back(node.def.get());
    const uint32 loops = std::exchange(loop_depth_, 0);  // break / continue cannot leave a macro
    *node.body = parse_body({"endmacro"}, "macro");
    loop_depth_ = loops;
    macros_.pop_back();
    node.def->body = node.body.get();
    end_tag("endmacro");
    return Stmt{pos, std::move(node)};
}

void Parser::parse_macro_params(MacroDef& def) {
    expect_op("(");
    bool defaults = false;
    while (!skip_op(")")) {
        if (!def.params.empty()) {
            expect_op(",");
            if (skip_op(")")) break;
        }
        const SourcePos pos = cur().pos;
        std::string name = expect_name("a parameter name");
        ExprPtr fallback;
        if (skip_op("=")) fallback = parse_expression();
        else if (defaults) fail_at(pos, "parameter '" + name + "' without a default follows one with a default");
        defaults = defaults || fallback != nullptr;
        def.params.emplace_back(std::move(name), std::move(fallback));
    }
}

Stmt Parser::parse_call_block() {
    const SourcePos pos = cur().pos;
    next();  // call
    ast::CallBlock node{std::make_unique<MacroDef>(), std::make_unique<Body>(), nullptr};
    node.caller->name = "caller";
    if (is_op("(")) parse_macro_params(*node.caller);
    node.call = parse_expression();
    if (!std::holds_alternative<ast::Call>(node.call->node)) fail_at(node.call->pos, "'{% call %}' needs a macro call, e.g. {% call m() %}");
    expect(TokenKind::BlockEnd);
    macros_.push_back(node.caller.get());
    const uint32 loops = std::exchange(loop_depth_, 0);
    *node.body = parse_body({"endcall"}, "call");
    loop_depth_ = loops;
    macros_.pop_back();
    node.caller->body = node.body.get();
    end_tag("endcall");
    return Stmt{pos, std::move(node)};
}

Stmt Parser::parse_filter_block() {
    const SourcePos pos = cur().pos;
    next();  // filter
    ast::FilterBlock node;
    do {
        node.filters.push_back(parse_filter_call());
    } while (skip_op("|"));
    expect(TokenKind::BlockEnd);
    node.body = parse_body({"endfilter"}, "filter");
    end_tag("endfilter");
    return Stmt{pos, std::move(node)};
}

Stmt Parser::parse_with() {
    const SourcePos pos = cur().pos;
    next();  // with
    ast::ScopeBlock node;
    while (cur().kind != TokenKind::BlockEnd) {
        if (!node.assigns.empty()) expect_op(",");
        std::string name = expect_name("a variable name");
        expect_op("=");
        node.assigns.emplace_back(std::move(name), parse_expression());
    }
    expect(TokenKind::BlockEnd);
    node.body = parse_body({"endwith"}, "with");
    end_tag("endwith");
    return Stmt{pos, std::move(node)};
}

Stmt Parser::parse_generation() {
    const SourcePos pos = cur().pos;
    next();  // generation
    expect(TokenKind::BlockEnd);
    ast::ScopeBlock node;
    node.body = parse_body({"endgeneration"}, "generation");
    end_tag("endgeneration");
    return Stmt{pos, std::move(node)};
}

Stmt Parser::parse_loop_control(bool is_break) {
    const SourcePos pos = cur().pos;
    if (loop_depth_ == 0) fail(std::string("'") + (is_break ? "break" : "continue") + "' outside a for loop");
    next();
    expect(TokenKind::BlockEnd);
    return Stmt{pos, ast::LoopControl{is_break}};
}

// ---- token helpers ----

bool Parser::skip_op(std::string_view op) {
    if (!is_op(op)) return false;
    next();
    return true;
}

bool Parser::skip_name(std::string_view name) {
    if (!is_name(name)) return false;
    next();
    return true;
}

void Parser::expect_op(std::string_view op) {
    if (!skip_op(op)) fail("expected '" + std::string(op) + "', got " + describe(cur()));
}

std::string Parser::expect_name(std::string_view what) {
    if (cur().kind != TokenKind::Name) fail("expected " + std::string(what) + ", got " + describe(cur()));
    return next().text;
}

void Parser::expect(TokenKind kind) {
    if (cur().kind != kind) fail(std::string("expected ") + token_kind_name(kind) + ", got " + describe(cur()));
    next();
}

std::string Parser::describe(const Token& t) const {
    switch (t.kind) {
        case TokenKind::Name:
        case TokenKind::Operator: return "'" + t.text + "'";
        case TokenKind::String: return "a string";
        case TokenKind::Integer:
        case TokenKind::Float: return "a number";
        default: return token_kind_name(t.kind);
    }
}

}  // namespace vk_symbiote::jinja
