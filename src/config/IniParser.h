// IniParser: a small, strict INI reader/writer for vk_symbiote's config files. It knows
// nothing about options; ConfigManager maps entries to the option table.
//
// Syntax accepted:
//   [section]                   section header (names: letters, digits, '_', '-', '.')
//   key = value                 value is trimmed; an unquoted value ends at " #" or " ;"
//   key = "text \"quoted\"\n"   quoted values keep spaces, '#', ';' and understand the
//                               escapes \" \\ \n \t \r; unquoted values are taken literally
//   # comment / ; comment       full-line comments; blank lines are ignored
// Errors (ErrorCode::Config) are "<source>:<line>: <problem>": malformed lines, keys outside
// a section, unterminated quotes, a key given twice in the same section.
//
// Thread-safety: pure functions.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "vk_symbiote/Common.h"

namespace vk_symbiote::config {

struct IniEntry {
    std::string section;
    std::string key;
    std::string value;  // unquoted / unescaped
    uint32 line = 0;    // 1-based line number in the source
};

struct IniDocument {
    std::string source;            // file name used in messages
    std::vector<IniEntry> entries; // in file order
    // Sections as they appear (including empty ones), with the line of their header.
    std::vector<std::pair<std::string, uint32>> sections;
};

// `source` is only used in error messages ("config.ini:12: ...").
Expected<IniDocument> parse_ini(std::string_view text, std::string_view source);
// Reads and parses a file; Io error if it cannot be read.
Expected<IniDocument> read_ini_file(const Path& path);

// The value as it must be written so parse_ini() returns `value` unchanged: as-is when that
// is safe, else double-quoted with escapes.
std::string ini_format_value(std::string_view value);

}  // namespace vk_symbiote::config
