#include "template/Objects.h"

#include "template/CallArgs.h"
#include "template/Interpreter.h"
#include "template/TemplateError.h"

namespace vk_symbiote::jinja {

namespace {

// Values a namespace let go of, destroyed one at a time by the outermost clear() on this
// thread (a namespace destroyed meanwhile adds its own values here instead of recursing).
struct Graveyard {
    std::vector<Value> pending;
    bool draining = false;
};
thread_local Graveyard t_graveyard;

Value loop_cycle(Interpreter&, const Value& self, const CallArgs& args) {
    if (!args.keyword.empty() || args.positional.empty()) runtime_error("loop.cycle() takes one or more positional arguments");
    return args.positional[size_t(self.as_int()) % args.positional.size()];
}

}  // namespace

Namespace::~Namespace() { clear(); }

void Namespace::clear() {
    Graveyard& g = t_graveyard;
    for (auto& [name, v] : attrs_) g.pending.push_back(std::move(v));
    attrs_.clear();
    if (g.draining) return;
    g.draining = true;
    while (!g.pending.empty()) {
        Value v = std::move(g.pending.back());
        g.pending.pop_back();
    }
    g.draining = false;
}

Value Namespace::attr(std::string_view name) const {
    for (const auto& [k, v] : attrs_)
        if (k == name) return v;
    return Value::undefined("'Namespace' object has no attribute '" + std::string(name) + "'");
}

void Namespace::set_attr(const std::string& name, Value v) {
    for (auto& [k, old] : attrs_) {
        if (k == name) {
            old = std::move(v);
            return;
        }
    }
    attrs_.emplace_back(name, std::move(v));
}

Value LoopState::attr(std::string_view name) const {
    const std::vector<Value>& items = *items_;
    const int64 n = int64(items.size()), i = int64(index0_);
    if (name == "index0") return Value(i);
    if (name == "index") return Value(i + 1);
    if (name == "revindex0") return Value(n - i - 1);
    if (name == "revindex") return Value(n - i);
    if (name == "first") return Value(i == 0);
    if (name == "last") return Value(i == n - 1);
    if (name == "length") return Value(n);
    if (name == "depth") return Value(int64(1));
    if (name == "depth0") return Value(int64(0));
    if (name == "previtem") return i > 0 ? items[size_t(i - 1)] : Value::undefined("there is no previous item");
    if (name == "nextitem") return i + 1 < n ? items[size_t(i + 1)] : Value::undefined("there is no next item");
    if (name == "cycle") return Value(std::make_shared<const BoundMethod>(Value(i), "loop.cycle", loop_cycle));
    return Value::undefined("'LoopContext' object has no attribute '" + std::string(name) + "'");
}

std::string LoopState::repr() const { return "<LoopContext " + std::to_string(index0_ + 1) + "/" + std::to_string(items_->size()) + ">"; }

Value MacroCallable::call_with_caller(Interpreter& in, const CallArgs& args, const Value& caller) const {
    std::shared_ptr<Scope> closure = closure_.lock();
    if (!closure) runtime_error("macro '" + def_.name + "' was called after the block that defined it ended");
    return in.call_macro(def_, std::move(closure), args, caller);
}

}  // namespace vk_symbiote::jinja
