#include "fogbridge/boot.hpp"

#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

#include "temp_dir.hpp"

namespace fs = std::filesystem;

namespace {

using fogbridge::test::temp_dir;

std::string read_text(const fs::path& p) {
    std::ifstream in(p);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_text(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }

}  // namespace

TEST_CASE("boot file: a missing file starts at boot 1 and each start counts up") {
    temp_dir dir;
    const auto file = dir.path / "boot";
    CHECK(fogbridge::next_boot_from_file(file) == 1);
    CHECK(read_text(file) == "1\n");
    CHECK(fogbridge::next_boot_from_file(file) == 2);
    CHECK(fogbridge::next_boot_from_file(file) == 3);
    CHECK(read_text(file) == "3\n");
    CHECK_FALSE(fs::exists(dir.path / "boot.tmp"));
}

TEST_CASE("boot file: reads n, writes n + 1") {
    temp_dir dir;
    const auto file = dir.path / "boot";
    write_text(file, "7\n");
    CHECK(fogbridge::next_boot_from_file(file) == 8);
    CHECK(read_text(file) == "8\n");
    write_text(file, "  \n");
    CHECK(fogbridge::next_boot_from_file(file) == 1);
}

TEST_CASE("boot file: garbage, the 2^53 limit and an unwritable place are start-up errors") {
    temp_dir dir;
    const auto file = dir.path / "boot";
    write_text(file, "seven\n");
    CHECK_THROWS_WITH_AS(fogbridge::next_boot_from_file(file),
                         doctest::Contains("expected a decimal counter"), std::runtime_error);
    CHECK(read_text(file) == "seven\n");  // left alone

    write_text(file, "9007199254740991\n");
    CHECK_THROWS_AS(fogbridge::next_boot_from_file(file), std::runtime_error);

    CHECK_THROWS_AS(fogbridge::next_boot_from_file(dir.path / "no-such-dir" / "boot"),
                    std::runtime_error);
}

TEST_CASE("random boot ids are below 2^53 and not zero") {
    for (int i = 0; i < 100; ++i) {
        const auto boot = fogbridge::random_boot();
        CHECK(boot >= 1);
        CHECK(boot <= fogbridge::max_boot);
    }
    CHECK(fogbridge::random_boot() != fogbridge::random_boot());
}
