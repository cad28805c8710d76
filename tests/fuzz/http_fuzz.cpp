// libFuzzer target: the request side of the /metrics server (ops/http_server). The input arrives
// in arbitrary cuts as a client would send it; request_head_size() finds the head as the server
// does and http_answer() answers it. Checked: every answer is one well-formed HTTP/1.1 response
// (a known status, Content-Length equal to the body, no body for HEAD, no byte of the request
// echoed into the headers), and a head is answered only when complete and within the bound.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include "ops/http_server.hpp"

#define FOGBRIDGE_FUZZ_STR2(x) #x
#define FOGBRIDGE_FUZZ_STR(x) FOGBRIDGE_FUZZ_STR2(x)
#define FOGBRIDGE_FUZZ_CHECK(cond)                                                      \
    do {                                                                                \
        if (!(cond)) broken(#cond " (http_fuzz.cpp:" FOGBRIDGE_FUZZ_STR(__LINE__) ")"); \
    } while (false)

namespace {

[[noreturn]] void broken(const char* what) {
    std::fprintf(stderr, "fogbridge fuzz: invariant broken: %s\n", what);
    std::abort();
}

const std::string metrics_page = "fogbridge_up 1\n";

void check_response(std::string_view r, std::string_view head) {
    FOGBRIDGE_FUZZ_CHECK(r.substr(0, 9) == "HTTP/1.1 ");
    const auto status = r.substr(9, 3);
    static constexpr std::string_view known[] = {"200", "400", "404", "405",
                                                 "431", "500", "503", "505"};
    bool ok = false;
    for (auto k : known) ok = ok || status == k;
    FOGBRIDGE_FUZZ_CHECK(ok);
    const auto end = r.find("\r\n\r\n");
    FOGBRIDGE_FUZZ_CHECK(end != std::string_view::npos);
    const auto headers = r.substr(0, end + 4);
    const auto body = r.substr(end + 4);
    for (const char c : headers) {
        FOGBRIDGE_FUZZ_CHECK((c >= 0x20 && c < 0x7F) || c == '\r' || c == '\n');
    }
    const auto cl = headers.find("Content-Length: ");
    FOGBRIDGE_FUZZ_CHECK(cl != std::string_view::npos);
    const auto length = std::stoul(std::string(headers.substr(cl + 16)));
    const bool head_only = head.substr(0, 5) == "HEAD ";
    FOGBRIDGE_FUZZ_CHECK(body.size() == length || (head_only && body.empty()));
    // Nothing of the request comes back: a path with CR LF cannot add a header.
    FOGBRIDGE_FUZZ_CHECK(headers.find("Set-Cookie") == std::string_view::npos);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    FuzzedDataProvider in(data, size);
    const std::size_t max = in.ConsumeIntegralInRange<std::size_t>(16, 512);
    const int mode = in.ConsumeIntegralInRange<int>(0, 3);
    fogbridge::http_handlers h;
    h.metrics = [mode]() -> std::string {
        if (mode == 3) throw std::runtime_error("store gone");
        return metrics_page;
    };
    h.healthy = [mode] { return mode != 1; };
    if (mode == 2) h.problem = [] { return std::string("pipeline stuck: 1 message(s) waiting"); };

    std::string buffered;
    while (in.remaining_bytes() > 0) {
        buffered += in.ConsumeRandomLengthString(64);
        const auto head = fogbridge::request_head_size(buffered, max);
        if (head == 0) {
            FOGBRIDGE_FUZZ_CHECK(buffered.size() < max);
            FOGBRIDGE_FUZZ_CHECK(buffered.substr(0, max).find("\r\n\r\n") == std::string::npos ||
                                 buffered.find("\r\n\r\n") + 4 > max);
            continue;
        }
        if (head == std::string_view::npos) {
            FOGBRIDGE_FUZZ_CHECK(buffered.size() >= max);
            return 0;  // the server answers 431 and closes
        }
        FOGBRIDGE_FUZZ_CHECK(head <= max && head <= buffered.size());
        FOGBRIDGE_FUZZ_CHECK(std::string_view(buffered).substr(head - 4, 4) == "\r\n\r\n");
        const auto head_text = std::string_view(buffered).substr(0, head);
        check_response(fogbridge::http_answer(head_text, h), head_text);
        return 0;  // one request per connection
    }
    return 0;
}
