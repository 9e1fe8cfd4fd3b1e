// The expression half of the Interpreter (statements: Interpreter.cpp).
#include "template/Access.h"
#include "template/Filters.h"
#include "template/Interpreter.h"
#include "template/Tests.h"
#include "template/ValueFormat.h"

namespace vk_symbiote::jinja {

Value Interpreter::eval(const Expr& e) {
    try {
        FrameGuard frame(*this);
        tick();
        return std::visit([&](const auto& node) { return eval_node(node); }, e.node);
    } catch (TemplateError& err) {
        err.set_pos_if_unknown(e.pos);
        throw;
    }
}

CallArgs Interpreter::eval_args(const ArgExprs& a) {
    CallArgs out;
    out.positional.reserve(a.positional.size());
    for (const auto& e : a.positional) out.positional.push_back(eval(*e));
    for (const auto& [name, e] : a.keyword) out.keyword.emplace_back(name, eval(*e));
    return out;
}

Value Interpreter::call(const Value& callee, const CallArgs& args) {
    if (callee.is_undefined()) runtime_error(callee.undefined_message());
    if (!callee.is_callable()) runtime_error(std::string("'") + callee.type_name() + "' object is not callable");
    return callee.as_callable().call(*this, args);
}

Value Interpreter::run_filter(const FilterCall& f, const Value& input) {
    if (!f.fn) throw TemplateError(TemplateErrorKind::Runtime, "no filter named '" + f.name + "'", f.pos);
    CallArgs args = eval_args(f.args);
    try {
        return f.fn(*this, input, args);
    } catch (TemplateError& err) {
        err.set_pos_if_unknown(f.pos);
        throw;
    }
}

Value Interpreter::apply_filter(const std::string& name, const Value& input, const CallArgs& args) {
    FilterFn fn = find_filter(name);
    if (!fn) runtime_error("no filter named '" + name + "'");
    tick();
    return fn(*this, input, args);
}

bool Interpreter::apply_test(const std::string& name, const Value& input, const CallArgs& args) {
    TestFn fn = find_test(name);
    if (!fn) runtime_error("no test named '" + name + "'");
    tick();
    return fn(*this, input, args);
}

Value Interpreter::eval_node(const ast::Literal& n) { return n.value; }

Value Interpreter::eval_node(const ast::Name& n) {
    if (const Value* v = scope_->find(n.name)) return *v;
    return Value::undefined("'" + n.name + "' is undefined");
}

Value Interpreter::eval_node(const ast::List& n) {
    std::vector<Value> items;
    items.reserve(n.items.size());
    for (const auto& e : n.items) items.push_back(eval(*e));
    return n.tuple ? Value::tuple(std::move(items)) : Value::list(std::move(items));
}

Value Interpreter::eval_node(const ast::DictLit& n) {
    Dict d;
    for (const auto& [k, v] : n.items) {
        Value key = eval(*k);
        if (!key.is_string()) runtime_error(std::string("dict keys must be strings here, not '") + key.type_name() + "'");
        d.set(key.as_string(), eval(*v));
    }
    return Value(std::move(d));
}

Value Interpreter::eval_node(const ast::Attr& n) { return get_attr(eval(*n.object), n.name); }

Value Interpreter::eval_node(const ast::Item& n) {
    Value object = eval(*n.object);
    return get_item(object, eval(*n.key));
}

Value Interpreter::eval_node(const ast::Slice& n) {
    Value object = eval(*n.object);
    auto part = [&](const ExprPtr& e) { return e ? eval(*e) : Value::none(); };
    Value start = part(n.start), stop = part(n.stop), step = part(n.step);
    charge(object.is_list() ? object.items().size() : object.is_string() ? object.as_string().size() / 16 : 0);
    return slice(object, start, stop, step);
}

Value Interpreter::eval_node(const ast::Call& n) {
    Value callee = eval(*n.callee);
    return call(callee, eval_args(n.args));
}

Value Interpreter::eval_node(const ast::Filter& n) { return run_filter(n.call, eval(*n.input)); }

Value Interpreter::eval_node(const ast::Test& n) {
    Value input = eval(*n.input);
    if (!n.fn) runtime_error("no test named '" + n.name + "'");
    return Value(n.fn(*this, input, eval_args(n.args)));
}

Value Interpreter::eval_node(const ast::Not& n) { return Value(!eval(*n.operand).truthy()); }

Value Interpreter::eval_node(const ast::Negate& n) {
    Value v = eval(*n.operand);
    return n.plus ? unary_plus(v) : negate(v);
}

Value Interpreter::eval_node(const ast::Binary& n) {
    Value left = eval(*n.left);
    Value right = eval(*n.right);
    const size_t work = (left.is_string() ? left.as_string().size() : 0) + (right.is_string() ? right.as_string().size() : 0);
    charge(work / 64 + (left.is_list() ? left.items().size() : 0));
    return binary_op(n.op, left, right, opts_.max_output_bytes);
}

Value Interpreter::eval_node(const ast::Logical& n) {
    Value left = eval(*n.left);
    if (n.is_and ? !left.truthy() : left.truthy()) return left;
    return eval(*n.right);
}

Value Interpreter::eval_node(const ast::Concat& n) {
    std::string out;
    for (const auto& e : n.parts) {
        out += to_str(eval(*e), opts_.max_output_bytes);
        if (out.size() > opts_.max_output_bytes) throw TemplateError(TemplateErrorKind::Limit, "a '~' result over the output limit");
    }
    charge(out.size() / 64);
    return Value(std::move(out));
}

Value Interpreter::eval_node(const ast::Compare& n) {
    Value left = eval(*n.first);
    for (const auto& [op, e] : n.rest) {
        Value right = eval(*e);
        if (!compare(op, left, right)) return Value(false);
        left = std::move(right);
    }
    return Value(true);
}

Value Interpreter::eval_node(const ast::Cond& n) {
    if (eval(*n.test).truthy()) return eval(*n.then);
    if (n.otherwise) return eval(*n.otherwise);
    return Value::undefined("the conditional expression was false and has no else part");
}

}  // namespace vk_symbiote::jinja
