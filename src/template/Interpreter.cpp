// The statement half of the Interpreter (expressions: InterpreterExpr.cpp).
#include "template/Interpreter.h"

#include "template/Access.h"
#include "template/Filters.h"
#include "template/Objects.h"
#include "template/Tests.h"
#include "template/ValueFormat.h"

namespace vk_symbiote::jinja {

Interpreter::~Interpreter() {
    // Namespaces may hold each other (or loop states holding them) in cycles: hold all of
    // them, empty them, then let them go.
    std::vector<std::shared_ptr<Namespace>> alive;
    for (const auto& w : namespaces_)
        if (auto ns = w.lock()) alive.push_back(std::move(ns));
    for (const auto& ns : alive) ns->clear();
}

std::string Interpreter::render(const Body& body, std::shared_ptr<Scope> globals) {
    ScopeSwitch top(*this, std::move(globals));
    std::string out;
    exec_body(body, out);
    return out;
}

void Interpreter::tick() { charge(1); }

void Interpreter::charge(uint64 steps) {
    steps_ += steps;
    if (steps_ > opts_.max_steps)
        throw TemplateError(TemplateErrorKind::Limit, "the template ran more than " + std::to_string(opts_.max_steps) + " steps (a loop that does not end?)");
}

void Interpreter::write(std::string& out, std::string_view text) {
    if (out.size() + text.size() > opts_.max_output_bytes)
        throw TemplateError(TemplateErrorKind::Limit, "the output is longer than the limit of " + std::to_string(opts_.max_output_bytes) + " bytes");
    out += text;
    charge(text.size() / 4096);
}

std::shared_ptr<Namespace> Interpreter::make_namespace() {
    auto ns = std::make_shared<Namespace>();
    namespaces_.push_back(ns);
    return ns;
}

Interpreter::Flow Interpreter::exec_body(const Body& body, std::string& out) {
    for (const Stmt& s : body)
        if (Flow f = exec(s, out); f != Flow::Normal) return f;
    return Flow::Normal;
}

Interpreter::Flow Interpreter::exec(const Stmt& s, std::string& out) {
    try {
        FrameGuard frame(*this);
        tick();
        return std::visit([&](const auto& node) { return exec_node(node, out); }, s.node);
    } catch (TemplateError& e) {
        e.set_pos_if_unknown(s.pos);
        throw;
    }
}

Interpreter::Flow Interpreter::exec_node(const ast::Text& n, std::string& out) {
    write(out, n.text);
    return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_node(const ast::Output& n, std::string& out) {
    write(out, to_str(eval(*n.expr), opts_.max_output_bytes));
    return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_node(const ast::If& n, std::string& out) {
    for (const auto& [cond, body] : n.branches)
        if (eval(*cond).truthy()) return exec_body(body, out);
    return exec_body(n.otherwise, out);
}

// The values a for loop runs over, after its `if` filter (a list is not copied).
std::shared_ptr<const std::vector<Value>> Interpreter::loop_items(const ast::For& n) {
    const Value seq = eval(*n.iter);
    auto items = seq.is_list() ? seq.shared_items() : std::make_shared<const std::vector<Value>>(iterate(seq, "for loop"));
    charge(items->size() / 8);
    if (!n.filter) return items;
    std::vector<Value> kept;
    for (const Value& item : *items) {
        ScopeSwitch s(*this, std::make_shared<Scope>(scope_));
        assign(n.targets, item);
        if (eval(*n.filter).truthy()) kept.push_back(item);
    }
    return std::make_shared<const std::vector<Value>>(std::move(kept));
}

Interpreter::Flow Interpreter::exec_node(const ast::For& n, std::string& out) {
    const std::shared_ptr<const std::vector<Value>> items = loop_items(n);
    if (items->empty()) {
        ScopeSwitch s(*this, std::make_shared<Scope>(scope_));
        return exec_body(n.otherwise, out);
    }
    auto loop = std::make_shared<LoopState>(items);
    for (size_t i = 0; i < items->size(); ++i) {
        tick();
        ScopeSwitch s(*this, std::make_shared<Scope>(scope_));  // each iteration starts afresh
        assign(n.targets, (*items)[i]);
        loop->set_index(i);
        scope_->set("loop", Value(std::shared_ptr<Object>(loop)));
        if (exec_body(n.body, out) == Flow::Break) break;
    }
    return Flow::Normal;
}

void Interpreter::assign(const std::vector<std::string>& names, const Value& v) {
    if (names.size() == 1) {
        scope_->set(names[0], v);
        return;
    }
    std::vector<Value> parts = unpack(v, names.size());
    for (size_t i = 0; i < parts.size(); ++i) scope_->set(names[i], parts[i]);
}

void Interpreter::assign(const AssignTarget& t, const Value& v) {
    if (!t.attr.empty()) {
        const Value* target = scope_->find(t.names[0]);
        if (!target || !target->is_object()) runtime_error("cannot assign attribute '" + t.attr + "' of '" + t.names[0] + "': it is not a namespace");
        target->as_object().set_attr(t.attr, v);
        return;
    }
    assign(t.names, v);
}

Interpreter::Flow Interpreter::exec_node(const ast::Set& n, std::string&) {
    assign(n.target, eval(*n.value));
    return Flow::Normal;
}

std::string Interpreter::render_scoped(const Body& body) {
    ScopeSwitch s(*this, std::make_shared<Scope>(scope_));
    std::string text;
    exec_body(body, text);
    return text;
}

Value Interpreter::apply_filters(const std::vector<FilterCall>& filters, Value v) {
    for (const FilterCall& f : filters) v = run_filter(f, v);
    return v;
}

Interpreter::Flow Interpreter::exec_node(const ast::SetBlock& n, std::string&) {
    assign(n.target, apply_filters(n.filters, Value(render_scoped(n.body))));
    return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_node(const ast::Macro& n, std::string&) {
    scope_->set(n.def->name, Value(std::shared_ptr<const Callable>(std::make_shared<const MacroCallable>(*n.def, scope_))));
    return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_node(const ast::CallBlock& n, std::string& out) {
    const auto& call = std::get<ast::Call>(n.call->node);
    const Value callee = eval(*call.callee);
    const auto* macro = callee.is_callable() ? dynamic_cast<const MacroCallable*>(&callee.as_callable()) : nullptr;
    if (!macro) runtime_error("'{% call %}' needs a macro, not a '" + std::string(callee.type_name()) + "'");
    const Value caller(std::shared_ptr<const Callable>(std::make_shared<const MacroCallable>(*n.caller, scope_)));
    write(out, to_str(macro->call_with_caller(*this, eval_args(call.args), caller), opts_.max_output_bytes));
    return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_node(const ast::FilterBlock& n, std::string& out) {
    write(out, to_str(apply_filters(n.filters, Value(render_scoped(n.body))), opts_.max_output_bytes));
    return Flow::Normal;
}

Interpreter::Flow Interpreter::exec_node(const ast::ScopeBlock& n, std::string& out) {
    ScopeSwitch s(*this, std::make_shared<Scope>(scope_));
    for (const auto& [name, e] : n.assigns) scope_->set(name, eval(*e));
    return exec_body(n.body, out);
}

Interpreter::Flow Interpreter::exec_node(const ast::LoopControl& n, std::string&) { return n.is_break ? Flow::Break : Flow::Continue; }

Value Interpreter::call_macro(const MacroDef& def, std::shared_ptr<Scope> closure, const CallArgs& args, const Value& caller) {
    ScopeSwitch s(*this, std::make_shared<Scope>(std::move(closure)));
    const std::string what = "macro '" + def.name + "'";
    if (args.positional.size() > def.params.size() && !def.uses_varargs)
        runtime_error(what + " takes at most " + std::to_string(def.params.size()) + " argument(s), " + std::to_string(args.positional.size()) + " given");
    std::vector<bool> given(def.params.size(), false);
    for (size_t i = 0; i < args.positional.size() && i < def.params.size(); ++i) {
        scope_->set(def.params[i].first, args.positional[i]);
        given[i] = true;
    }
    Dict extra_kwargs;
    for (const auto& [name, v] : args.keyword) {
        size_t i = 0;
        while (i < def.params.size() && def.params[i].first != name) ++i;
        if (i < def.params.size() && given[i]) runtime_error(what + " got multiple values for argument '" + name + "'");
        if (i == def.params.size() && !def.uses_kwargs) runtime_error(what + " takes no keyword argument '" + name + "'");
        if (i == def.params.size()) extra_kwargs.set(name, v);
        else scope_->set(name, v), given[i] = true;
    }
    for (size_t i = 0; i < def.params.size(); ++i) {
        if (given[i]) continue;
        const ExprPtr& fallback = def.params[i].second;
        scope_->set(def.params[i].first, fallback ? eval(*fallback) : Value::undefined("parameter '" + def.params[i].first + "' of " + what + " was not given"));
    }
    std::vector<Value> varargs;
    for (size_t i = def.params.size(); i < args.positional.size(); ++i) varargs.push_back(args.positional[i]);
    scope_->set("varargs", Value::tuple(std::move(varargs)));
    scope_->set("kwargs", Value(std::move(extra_kwargs)));
    if (!caller.is_undefined()) scope_->set("caller", caller);
    std::string out;
    exec_body(*def.body, out);
    return Value(std::move(out));
}

}  // namespace vk_symbiote::jinja
