// Creates the store's tables in a new file and checks the schema version of an existing one.
// Not thread-safe: called once, while the store is being opened.
#pragma once

#include <string>

#include "store/sqlite.hpp"
#include "store/store.hpp"

namespace fogbridge::schema {

inline constexpr int current_version = 4;

// Sets WAL mode and the pragmas, then creates or checks the schema. Returns the store epoch.
// Throws (std::runtime_error or store_error) with a one-line reason that does not name the file.
std::string prepare(sqlite::database& db, sync_mode synchronous);

}  // namespace fogbridge::schema
