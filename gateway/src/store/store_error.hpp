// Error codes of the SQLite store (wired into std::error_code) and the exception that carries them.
// Thread-safe (stateless).
#pragma once

#include <stdexcept>
#include <string>
#include <system_error>

namespace fogbridge {

enum class store_errc {
    busy = 1,       // the database stayed locked past busy_timeout
    full,           // disk or database full
    io,             // read/write/fsync failed
    corrupt,        // not a database, or a damaged one
    invalid_input,  // a value the store cannot hold (e.g. seq >= 2^63)
    internal,       // any other SQLite failure
};

const std::error_category& store_category() noexcept;
std::error_code make_error_code(store_errc e) noexcept;

// Thrown by store operations that fail at run time; code() says which store_errc.
class store_error final : public std::system_error {
  public:
    store_error(store_errc code, const std::string& what);
};

// Maps an SQLite primary result code to the store's error enum.
store_errc store_errc_from_sqlite(int sqlite_code) noexcept;

}  // namespace fogbridge

template <>
struct std::is_error_code_enum<fogbridge::store_errc> : std::true_type {};
