#include "config/IniParser.h"

#include <algorithm>
#include <cctype>
#include <fstream>
#include <map>
#include <sstream>

namespace vk_symbiote::config {

namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }

std::string_view trim(std::string_view s) {
    while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
    while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
    return s;
}

bool is_name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.';
}

bool is_name(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_name_char); }

// Position of an inline comment (" #" / " ;") in an unquoted value, or npos.
size_t inline_comment(std::string_view v) {
    for (size_t i = 1; i < v.size(); ++i)
        if ((v[i] == '#' || v[i] == ';') && is_space(v[i - 1])) return i;
    return std::string_view::npos;
}

// Parses a double-quoted value starting at v[0] == '"'. Only whitespace or a comment may
// follow the closing quote. Returns the error text on failure (empty = ok).
std::string parse_quoted(std::string_view v, std::string& out) {
    out.clear();
    size_t i = 1;
    for (; i < v.size() && v[i] != '"'; ++i) {
        if (v[i] != '\\') {
            out += v[i];
            continue;
        }
        if (++i == v.size()) break;
        switch (v[i]) {
            case '"': out += '"'; break;
            case '\\': out += '\\'; break;
            case 'n': out += '\n'; break;
            case 't': out += '\t'; break;
            case 'r': out += '\r'; break;
            default: return std::string("unknown escape '\\") + v[i] + "' in quoted value";
        }
    }
    if (i >= v.size()) return "unterminated quoted value";
    std::string_view rest = trim(v.substr(i + 1));
    if (!rest.empty() && rest.front() != '#' && rest.front() != ';')
        return "unexpected text after quoted value: '" + std::string(rest) + "'";
    return {};
}

}  // namespace

Expected<IniDocument> parse_ini(std::string_view text, std::string_view source) {
    IniDocument doc;
    doc.source = std::string(source);
    std::map<std::pair<std::string, std::string>, uint32> first_line;  // (section, key) -> line
    std::string section;
    bool have_section = false;
    uint32 line_no = 0;
    auto err = [&](const std::string& what) -> Error {
        return make_error(ErrorCode::Config, doc.source + ":" + std::to_string(line_no) + ": " + what);
    };

    size_t pos = 0;
    while (pos <= text.size()) {
        size_t nl = text.find('\n', pos);
        std::string_view raw = text.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
        pos = nl == std::string_view::npos ? text.size() + 1 : nl + 1;
        ++line_no;
        if (line_no == 1 && raw.substr(0, 3) == "\xEF\xBB\xBF") raw.remove_prefix(3);  // UTF-8 BOM
        std::string_view line = trim(raw);
        if (line.empty() || line.front() == '#' || line.front() == ';') continue;

        if (line.front() == '[') {
            size_t close = line.find(']');
            std::string_view after = close == std::string_view::npos ? "" : trim(line.substr(close + 1));
            if (close == std::string_view::npos || (!after.empty() && after.front() != '#' && after.front() != ';'))
                return err("malformed section header '" + std::string(line) + "'");
            std::string_view name = trim(line.substr(1, close - 1));
            if (!is_name(name)) return err("malformed section name '" + std::string(name) + "'");
            section = std::string(name);
            have_section = true;
            doc.sections.emplace_back(section, line_no);
            continue;
        }

        size_t eq = line.find('=');
        if (eq == std::string_view::npos) return err("expected 'key = value', got '" + std::string(line) + "'");
        std::string_view key = trim(line.substr(0, eq));
        if (!is_name(key)) return err("malformed key '" + std::string(key) + "'");
        if (!have_section) return err("key '" + std::string(key) + "' appears before any [section]");

        std::string_view v = trim(line.substr(eq + 1));
        std::string value;
        if (!v.empty() && v.front() == '"') {
            std::string e = parse_quoted(v, value);
            if (!e.empty()) return err(e + " for key '" + std::string(key) + "'");
        } else {
            size_t c = inline_comment(v);
            value = std::string(trim(v.substr(0, c)));
        }

        auto [it, inserted] = first_line.emplace(std::make_pair(section, std::string(key)), line_no);
        if (!inserted)
            return err("duplicate key '" + std::string(key) + "' in [" + section + "] (first set at line " +
                       std::to_string(it->second) + ")");
        doc.entries.push_back(IniEntry{section, std::string(key), std::move(value), line_no});
    }
    return doc;
}

Expected<IniDocument> read_ini_file(const Path& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
        return make_error(ErrorCode::Io, path.string() + ": config file not found or not a regular file");
    std::ifstream f(path, std::ios::binary);
    if (!f) return make_error(ErrorCode::Io, path.string() + ": cannot open config file");
    std::ostringstream ss;
    ss << f.rdbuf();
    if (f.bad()) return make_error(ErrorCode::Io, path.string() + ": read error");
    return parse_ini(ss.str(), path.string());
}

std::string ini_format_value(std::string_view value) {
    bool needs_quotes = value.empty() ? false
                                      : (is_space(value.front()) || is_space(value.back()) || value.front() == '"' ||
                                         inline_comment(value) != std::string_view::npos);
    for (char c : value)
        if (c == '\n' || c == '\r' || c == '\t') needs_quotes = true;
    if (!needs_quotes) return std::string(value);
    std::string out = "\"";
    for (char c : value) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\t': out += "\\t"; break;
            case '\r': out += "\\r"; break;
            default: out += c;
        }
    }
    return out + "\"";
}

}  // namespace vk_symbiote::config
