// The expression half of the Parser (see Parser.h for the grammar).
#include <algorithm>

#include "template/Filters.h"
#include "template/Parser.h"
#include "template/Tests.h"

namespace vk_symbiote::jinja {

namespace {

uint32 depth(const ExprPtr& e) { return e ? e->depth : 0; }

uint32 depth(const ArgExprs& a) {
    uint32 d = 0;
    for (const auto& e : a.positional) d = std::max(d, depth(e));
    for (const auto& [k, e] : a.keyword) d = std::max(d, depth(e));
    return d;
}

// The deepest child of each node kind.
uint32 children(const ast::Literal&) { return 0; }
uint32 children(const ast::Name&) { return 0; }
uint32 children(const ast::List& n) {
    uint32 d = 0;
    for (const auto& e : n.items) d = std::max(d, depth(e));
    return d;
}
uint32 children(const ast::DictLit& n) {
    uint32 d = 0;
    for (const auto& [k, v] : n.items) d = std::max({d, depth(k), depth(v)});
    return d;
}
uint32 children(const ast::Attr& n) { return depth(n.object); }
uint32 children(const ast::Item& n) { return std::max(depth(n.object), depth(n.key)); }
uint32 children(const ast::Slice& n) { return std::max({depth(n.object), depth(n.start), depth(n.stop), depth(n.step)}); }
uint32 children(const ast::Call& n) { return std::max(depth(n.callee), depth(n.args)); }
uint32 children(const ast::Filter& n) { return std::max(depth(n.input), depth(n.call.args)); }
uint32 children(const ast::Test& n) { return std::max(depth(n.input), depth(n.args)); }
uint32 children(const ast::Not& n) { return depth(n.operand); }
uint32 children(const ast::Negate& n) { return depth(n.operand); }
uint32 children(const ast::Binary& n) { return std::max(depth(n.left), depth(n.right)); }
uint32 children(const ast::Logical& n) { return std::max(depth(n.left), depth(n.right)); }
uint32 children(const ast::Concat& n) {
    uint32 d = 0;
    for (const auto& e : n.parts) d = std::max(d, depth(e));
    return d;
}
uint32 children(const ast::Compare& n) {
    uint32 d = depth(n.first);
    for (const auto& [op, e] : n.rest) d = std::max(d, depth(e));
    return d;
}
uint32 children(const ast::Cond& n) { return std::max({depth(n.test), depth(n.then), depth(n.otherwise)}); }

}  // namespace

ExprPtr Parser::make(SourcePos pos, auto node) {
    auto e = std::make_unique<Expr>();
    e->pos = pos;
    e->depth = 1 + children(node);
    if (e->depth > kMaxExprDepth)
        throw TemplateError(TemplateErrorKind::Limit, "an expression nested deeper than " + std::to_string(kMaxExprDepth) + " levels", pos);
    e->node = std::move(node);
    return e;
}

ExprPtr Parser::parse_expression(bool with_condexpr) {
    NestingGuard guard(expr_nesting_, kMaxExprDepth, cur().pos, "expressions");
    return with_condexpr ? parse_condexpr() : parse_or();
}

bool Parser::tuple_ends(std::initializer_list<std::string_view> extra_end) const {
    if (cur().kind == TokenKind::VarEnd || cur().kind == TokenKind::BlockEnd || is_op(")")) return true;
    return cur().kind == TokenKind::Name && std::find(extra_end.begin(), extra_end.end(), cur().text) != extra_end.end();
}

// a, b, c -> a tuple; a -> a; () only inside explicit parentheses (the caller checks).
ExprPtr Parser::parse_tuple(bool with_condexpr, std::initializer_list<std::string_view> extra_end) {
    const SourcePos pos = cur().pos;
    std::vector<ExprPtr> items;
    bool is_tuple = false;
    while (true) {
        if (!items.empty()) expect_op(",");
        if (tuple_ends(extra_end)) break;
        items.push_back(parse_expression(with_condexpr));
        if (!is_op(",")) break;
        is_tuple = true;
    }
    if (!is_tuple && items.size() == 1) return std::move(items[0]);
    if (items.empty() && !is_op(")")) fail("expected an expression, got " + describe(cur()));
    return make(pos, ast::List{std::move(items), true});
}

ExprPtr Parser::parse_condexpr() {
    const SourcePos pos = cur().pos;
    const size_t unknown_before = unknown_.size();
    ExprPtr expr = parse_or();
    while (is_name("if")) {
        next();
        for (size_t i = unknown_before; i < unknown_.size(); ++i) unknown_[i].conditional = true;
        ++conditional_depth_;
        ExprPtr test = parse_or();
        ExprPtr otherwise = skip_name("else") ? parse_condexpr() : nullptr;
        --conditional_depth_;
        expr = make(pos, ast::Cond{std::move(test), std::move(expr), std::move(otherwise)});
    }
    return expr;
}

ExprPtr Parser::parse_or() {
    const SourcePos pos = cur().pos;
    ExprPtr left = parse_and();
    while (skip_name("or")) left = make(pos, ast::Logical{false, std::move(left), parse_and()});
    return left;
}

ExprPtr Parser::parse_and() {
    const SourcePos pos = cur().pos;
    ExprPtr left = parse_not();
    while (skip_name("and")) left = make(pos, ast::Logical{true, std::move(left), parse_not()});
    return left;
}

ExprPtr Parser::parse_not() {
    const SourcePos pos = cur().pos;
    if (skip_name("not")) {
        NestingGuard guard(expr_nesting_, kMaxExprDepth, pos, "expressions");
        return make(pos, ast::Not{parse_not()});
    }
    return parse_compare();
}

ExprPtr Parser::parse_compare() {
    const SourcePos pos = cur().pos;
    ExprPtr first = parse_math1();
    ast::Compare node;
    while (true) {
        static constexpr std::pair<std::string_view, CompareOp> kOps[] = {{"==", CompareOp::Eq}, {"!=", CompareOp::Ne}, {"<", CompareOp::Lt},
                                                                          {"<=", CompareOp::Le}, {">", CompareOp::Gt},  {">=", CompareOp::Ge}};
        auto op = std::find_if(std::begin(kOps), std::end(kOps), [&](const auto& o) { return is_op(o.first); });
        if (op != std::end(kOps)) {
            next();
            node.rest.emplace_back(op->second, parse_math1());
        } else if (skip_name("in")) {
            node.rest.emplace_back(CompareOp::In, parse_math1());
        } else if (is_name("not") && peek().kind == TokenKind::Name && peek().text == "in") {
            next();
            next();
            node.rest.emplace_back(CompareOp::NotIn, parse_math1());
        } else {
            break;
        }
    }
    if (node.rest.empty()) return first;
    node.first = std::move(first);
    return make(pos, std::move(node));
}

ExprPtr Parser::parse_math1() {
    const SourcePos pos = cur().pos;
    ExprPtr left = parse_concat();
    while (is_op("+") || is_op("-")) {
        const BinaryOp op = next().text == "+" ? BinaryOp::Add : BinaryOp::Sub;
        left = make(pos, ast::Binary{op, std::move(left), parse_concat()});
    }
    return left;
}

ExprPtr Parser::parse_concat() {
    const SourcePos pos = cur().pos;
    ExprPtr first = parse_math2();
    if (!is_op("~")) return first;
    ast::Concat node;
    node.parts.push_back(std::move(first));
    while (skip_op("~")) node.parts.push_back(parse_math2());
    return make(pos, std::move(node));
}

ExprPtr Parser::parse_math2() {
    const SourcePos pos = cur().pos;
    ExprPtr left = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
        const std::string& t = next().text;
        const BinaryOp op = t == "*" ? BinaryOp::Mul : t == "/" ? BinaryOp::Div : t == "//" ? BinaryOp::FloorDiv : BinaryOp::Mod;
        left = make(pos, ast::Binary{op, std::move(left), parse_pow()});
    }
    return left;
}

ExprPtr Parser::parse_pow() {
    const SourcePos pos = cur().pos;
    ExprPtr left = parse_unary();
    while (skip_op("**")) left = make(pos, ast::Binary{BinaryOp::Pow, std::move(left), parse_unary()});
    return left;
}

ExprPtr Parser::parse_unary(bool with_filter) {
    const SourcePos pos = cur().pos;
    ExprPtr node;
    if (is_op("-") || is_op("+")) {
        const bool plus = next().text == "+";
        NestingGuard guard(expr_nesting_, kMaxExprDepth, pos, "expressions");
        node = make(pos, ast::Negate{parse_unary(false), plus});
    } else {
        node = parse_primary();
    }
    node = parse_postfix(std::move(node));
    return with_filter ? parse_filter_expr(std::move(node)) : std::move(node);
}

ExprPtr Parser::parse_primary() {
    const Token& t = cur();
    const SourcePos pos = t.pos;
    if (t.kind == TokenKind::Name) {
        const std::string& n = next().text;
        if (n == "true" || n == "True") return make(pos, ast::Literal{Value(true)});
        if (n == "false" || n == "False") return make(pos, ast::Literal{Value(false)});
        if (n == "none" || n == "None") return make(pos, ast::Literal{Value::none()});
        if (!macros_.empty()) {
            macros_.back()->uses_varargs |= n == "varargs";
            macros_.back()->uses_kwargs |= n == "kwargs";
            macros_.back()->uses_caller |= n == "caller";
        }
        return make(pos, ast::Name{n});
    }
    if (t.kind == TokenKind::String) {
        std::string s;
        while (cur().kind == TokenKind::String) s += next().text;  // adjacent literals join, as in Python
        return make(pos, ast::Literal{Value(std::move(s))});
    }
    if (t.kind == TokenKind::Integer) return make(pos, ast::Literal{Value(next().integer)});
    if (t.kind == TokenKind::Float) return make(pos, ast::Literal{Value(next().number)});
    if (is_op("(")) {
        next();
        ExprPtr e = parse_tuple();
        expect_op(")");
        return e;
    }
    if (is_op("[")) return parse_list();
    if (is_op("{")) return parse_dict();
    fail("unexpected " + describe(t));
}

ExprPtr Parser::parse_list() {
    const SourcePos pos = cur().pos;
    next();  // [
    ast::List node;
    while (!is_op("]")) {
        if (!node.items.empty()) expect_op(",");
        if (is_op("]")) break;
        node.items.push_back(parse_expression());
    }
    next();  // ]
    return make(pos, std::move(node));
}

ExprPtr Parser::parse_dict() {
    const SourcePos pos = cur().pos;
    next();  // {
    ast::DictLit node;
    while (!is_op("}")) {
        if (!node.items.empty()) expect_op(",");
        if (is_op("}")) break;
        ExprPtr key = parse_expression();
        expect_op(":");
        node.items.emplace_back(std::move(key), parse_expression());
    }
    next();  // }
    return make(pos, std::move(node));
}

ExprPtr Parser::parse_postfix(ExprPtr node) {
    while (true) {
        if (is_op(".") || is_op("[")) node = parse_subscript(std::move(node));
        else if (is_op("(")) {
            const SourcePos pos = node->pos;  // a call reports where its callee starts
            node = make(pos, ast::Call{std::move(node), parse_call_args()});
        } else {
            return node;
        }
    }
}

ExprPtr Parser::parse_subscript(ExprPtr node) {
    const SourcePos pos = cur().pos;
    if (next().text == ".") {
        const Token& t = cur();
        if (t.kind == TokenKind::Name) return make(pos, ast::Attr{std::move(node), next().text});
        if (t.kind != TokenKind::Integer) fail("expected an attribute name or a number after '.', got " + describe(t));
        return make(pos, ast::Item{std::move(node), make(t.pos, ast::Literal{Value(next().integer)})});
    }
    // [key] or [start:stop:step]
    ExprPtr parts[3];
    int colons = 0;
    while (!is_op("]")) {
        if (is_op(",")) throw TemplateError(TemplateErrorKind::Unsupported, "subscripts with several keys (x[a, b]) are not supported", cur().pos);
        if (skip_op(":")) {
            if (++colons > 2) fail("a slice takes at most two ':'");
            continue;
        }
        if (parts[colons]) fail("expected ']' or ':', got " + describe(cur()));
        parts[colons] = parse_expression();
    }
    next();  // ]
    if (colons == 0) {
        if (!parts[0]) fail_at(pos, "empty subscript '[]'");
        return make(pos, ast::Item{std::move(node), std::move(parts[0])});
    }
    return make(pos, ast::Slice{std::move(node), std::move(parts[0]), std::move(parts[1]), std::move(parts[2])});
}

ExprPtr Parser::parse_filter_expr(ExprPtr node) {
    while (true) {
        if (is_op("|")) {
            next();
            const SourcePos pos = cur().pos;
            node = make(pos, ast::Filter{std::move(node), parse_filter_call()});
        } else if (is_name("is")) {
            node = parse_test(std::move(node));
        } else if (is_op("(")) {
            const SourcePos pos = node->pos;
            node = make(pos, ast::Call{std::move(node), parse_call_args()});
        } else {
            return node;
        }
    }
}

FilterCall Parser::parse_filter_call() {
    FilterCall f;
    f.pos = cur().pos;
    f.name = expect_name("a filter name");
    f.fn = find_filter(f.name);
    if (!f.fn) unknown_.push_back({"no filter named '" + f.name + "'", f.pos, conditional_depth_ > 0});
    if (is_op("(")) f.args = parse_call_args();
    return f;
}

ExprPtr Parser::parse_test(ExprPtr node) {
    const SourcePos pos = cur().pos;
    next();  // is
    const bool negated = skip_name("not");
    ast::Test test{std::move(node), expect_name("a test name"), nullptr, {}};
    test.fn = find_test(test.name);
    if (!test.fn) unknown_.push_back({"no test named '" + test.name + "'", pos, conditional_depth_ > 0});
    const Token& t = cur();
    const bool bare_arg = t.kind == TokenKind::Name || t.kind == TokenKind::String || t.kind == TokenKind::Integer ||
                          t.kind == TokenKind::Float || is_op("[") || is_op("{");
    if (is_op("(")) {
        test.args = parse_call_args();
    } else if (bare_arg && !is_name("else") && !is_name("or") && !is_name("and")) {
        if (is_name("is")) fail("tests cannot be chained: 'x is a is b'");
        test.args.positional.push_back(parse_postfix(parse_primary()));  // x is divisibleby 3
    }
    ExprPtr e = make(pos, std::move(test));
    return negated ? make(pos, ast::Not{std::move(e)}) : std::move(e);
}

ArgExprs Parser::parse_call_args() {
    expect_op("(");
    ArgExprs args;
    bool first = true;
    while (!is_op(")")) {
        if (!first) {
            expect_op(",");
            if (is_op(")")) break;
        }
        first = false;
        if (is_op("*") || is_op("**")) throw TemplateError(TemplateErrorKind::Unsupported, "*args and **kwargs in calls are not supported", cur().pos);
        if (cur().kind == TokenKind::Name && peek().kind == TokenKind::Operator && peek().text == "=") {
            std::string key = next().text;
            next();  // =
            args.keyword.emplace_back(std::move(key), parse_expression());
        } else {
            if (!args.keyword.empty()) fail("a positional argument after a keyword argument");
            args.positional.push_back(parse_expression());
        }
    }
    next();  // )
    return args;
}

}  // namespace vk_symbiote::jinja
