// A minimal streaming JSON writer for sam-topo --json: objects, arrays,
// strings (escaped per RFC 8259), integers and finite doubles. Commas and
// indentation are handled here so callers only say what to write.
#pragma once

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

namespace samtopo {

class JsonWriter {
 public:
  explicit JsonWriter(FILE* out) : out_(out) {}

  void beginObject() { open('{'); }
  void endObject() { close('}'); }
  void beginArray() { open('['); }
  void endArray() { close(']'); }
  // Inside an object: the key of the next value.
  void key(const std::string& k) {
    separate();
    writeString(k);
    fputs(": ", out_);
    afterKey_ = true;
  }
  void value(const std::string& s) {
    separate();
    writeString(s);
  }
  void value(const char* s) { value(std::string(s != nullptr ? s : "")); }
  void value(long long v) {
    separate();
    fprintf(out_, "%lld", v);
  }
  void value(int v) { value(static_cast<long long>(v)); }
  void value(double v) {
    separate();
    if (std::isfinite(v)) {
      fprintf(out_, "%.10g", v);
    } else {
      fputs("null", out_);  // JSON has no NaN or Inf
    }
  }
  // Ends the document with a newline.
  void finish() { fputc('\n', out_); }

  static std::string escape(const std::string& s) {
    std::string o;
    for (unsigned char c : s) {
      switch (c) {
        case '"': o += "\\\""; break;
        case '\\': o += "\\\\"; break;
        case '\b': o += "\\b"; break;
        case '\f': o += "\\f"; break;
        case '\n': o += "\\n"; break;
        case '\r': o += "\\r"; break;
        case '\t': o += "\\t"; break;
        default:
          if (c < 0x20) {
            char buf[8];
            snprintf(buf, sizeof(buf), "\\u%04x", c);
            o += buf;
          } else {
            o += char(c);  // UTF-8 bytes pass through unchanged
          }
      }
    }
    return o;
  }

 private:
  void writeString(const std::string& s) { fprintf(out_, "\"%s\"", escape(s).c_str()); }
  void open(char c) {
    separate();
    fputc(c, out_);
    first_.push_back(true);
  }
  void close(char c) {
    bool empty = first_.back();
    first_.pop_back();
    if (!empty) newline();
    fputc(c, out_);
  }
  // Before a value or key: a comma unless first in its container, then a
  // newline and indentation; nothing after a key.
  void separate() {
    if (afterKey_) {
      afterKey_ = false;
      return;
    }
    if (first_.empty()) return;
    if (!first_.back()) fputc(',', out_);
    first_.back() = false;
    newline();
  }
  void newline() {
    fputc('\n', out_);
    for (size_t i = 0; i < first_.size(); ++i) fputs("  ", out_);
  }

  FILE* out_;
  std::vector<bool> first_;
  bool afterKey_ = false;
};

}  // namespace samtopo
