// parse_ack: a small scanner for the gateway's {"boot":B,"seq":S}; no heap, no recursion.
#include <array>
#include <cstring>

#include "fogbridge/core/json.hpp"

namespace fogbridge::core {
namespace {

class scanner final {
  public:
    scanner(const char* p, std::size_t n) : p_(p), end_(p + n) {}

    void ws() {
        while (p_ < end_ && (*p_ == ' ' || *p_ == '\t' || *p_ == '\n' || *p_ == '\r')) {
            ++p_;
        }
    }
    bool at_end() const { return p_ == end_; }
    bool take(char c) {
        ws();
        if (p_ < end_ && *p_ == c) {
            ++p_;
            return true;
        }
        return false;
    }
    // A string; its first bytes (NUL-terminated, cut to cap - 1) into out.
    bool string(char* out, std::size_t cap) {
        if (!take('"')) {
            return false;
        }
        std::size_t n = 0;
        while (p_ < end_ && *p_ != '"') {
            if (*p_ == '\\') {
                if (++p_ == end_) {
                    return false;
                }
                out[0] = '\0';  // an escaped key is none of ours
                n = cap;
            }
            if (n + 1 < cap) {
                out[n++] = *p_;
            }
            ++p_;
        }
        if (p_ == end_) {
            return false;
        }
        ++p_;
        if (n < cap) {
            out[n] = '\0';
        }
        return true;
    }
    bool uint(std::uint64_t& out) {
        ws();
        const char* start = p_;
        out = 0;
        while (p_ < end_ && *p_ >= '0' && *p_ <= '9') {
            const auto d = static_cast<std::uint64_t>(*p_ - '0');
            if (out > (UINT64_MAX - d) / 10) {
                return false;
            }
            out = out * 10 + d;
            ++p_;
        }
        // An integer only: 7.0, 7e0 and -7 are not.
        return p_ != start && (p_ == end_ || (*p_ != '.' && *p_ != 'e' && *p_ != 'E'));
    }
    // Any value, nested ones by counting brackets.
    bool skip_value() {
        ws();
        int depth = 0;
        do {
            if (p_ == end_) {
                return false;
            }
            const char c = *p_;
            if (c == '"') {
                std::array<char, 1> sink{};
                if (!string(sink.data(), sink.size())) {
                    return false;
                }
            } else if (c == '{' || c == '[') {
                ++depth;
                ++p_;
            } else if (c == '}' || c == ']') {
                if (depth == 0) {
                    return false;
                }
                --depth;
                ++p_;
            } else if (depth == 0 &&
                       (c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r')) {
                return true;
            } else {
                ++p_;
            }
            if (depth == 0 && p_ < end_ && (*p_ == ',' || *p_ == '}')) {
                return true;
            }
        } while (true);
    }

  private:
    const char* p_;
    const char* end_;
};

}  // namespace

bool parse_ack(const char* payload, std::size_t size, std::uint64_t& boot, std::uint64_t& seq) {
    scanner s(payload, size);
    bool have_boot = false;
    bool have_seq = false;
    if (!s.take('{')) {
        return false;
    }
    if (!s.take('}')) {
        do {
            std::array<char, 8> key{};
            if (!s.string(key.data(), key.size()) || !s.take(':')) {
                return false;
            }
            if (std::strcmp(key.data(), "boot") == 0) {
                have_boot = s.uint(boot);
                if (!have_boot) {
                    return false;
                }
            } else if (std::strcmp(key.data(), "seq") == 0) {
                have_seq = s.uint(seq);
                if (!have_seq) {
                    return false;
                }
            } else if (!s.skip_value()) {
                return false;
            }
        } while (s.take(','));
        if (!s.take('}')) {
            return false;
        }
    }
    s.ws();
    return s.at_end() && have_boot && have_seq;
}

}  // namespace fogbridge::core
