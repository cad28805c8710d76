// schemas/gaps.json names every gap reason the store can write, and no other.
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "store/store.hpp"

TEST_CASE("schemas/gaps.json lists exactly the store's gap reasons") {
    using fogbridge::drop_reason;
    std::ifstream in(std::string(FOGBRIDGE_SOURCE_DIR) + "/schemas/gaps.json");
    REQUIRE(in.good());
    const auto schema = nlohmann::json::parse(in);
    std::set<std::string> in_schema;
    for (const auto& name : schema.at("$defs").at("reason").at("enum")) {
        in_schema.insert(name.get<std::string>());
    }
    std::set<std::string> in_store;
    for (const auto reason : {drop_reason::store_full_bytes, drop_reason::store_full_rows,
                              drop_reason::disk_low, drop_reason::ttl, drop_reason::store_lost}) {
        const std::string name(to_string(reason));
        CHECK(fogbridge::drop_reason_from(name) == reason);
        in_store.insert(name);
    }
    CHECK(in_schema == in_store);
    // The records refer to the same list.
    CHECK(schema.at("$defs").at("gap").at("properties").at("reason").at("$ref") ==
          "#/$defs/reason");
}
