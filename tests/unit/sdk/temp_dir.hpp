// A private temporary directory for a test, removed with everything in it at scope exit.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <string>
#include <system_error>

namespace fogbridge::test {

struct temp_dir {
    std::filesystem::path path;
    temp_dir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "fogbridge-test-XXXXXX").string();
        path = mkdtemp(pattern.data());
    }
    ~temp_dir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;
};

}  // namespace fogbridge::test
