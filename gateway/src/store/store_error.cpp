#include "store/store_error.hpp"

#include <sqlite3.h>

namespace fogbridge {
namespace {

class category final : public std::error_category {
  public:
    const char* name() const noexcept override { return "fogbridge.store"; }

    std::string message(int value) const override {
        switch (static_cast<store_errc>(value)) {
            case store_errc::busy:
                return "store is locked";
            case store_errc::full:
                return "store is full";
            case store_errc::io:
                return "store I/O error";
            case store_errc::corrupt:
                return "store is corrupt";
            case store_errc::invalid_input:
                return "value cannot be stored";
            case store_errc::internal:
                return "store internal error";
        }
        return "unknown store error";
    }
};

}  // namespace

const std::error_category& store_category() noexcept {
    static const category instance;
    return instance;
}

std::error_code make_error_code(store_errc e) noexcept {
    return {static_cast<int>(e), store_category()};
}

store_error::store_error(store_errc code, const std::string& what)
    : std::system_error(make_error_code(code), what) {}

store_errc store_errc_from_sqlite(int sqlite_code) noexcept {
    switch (sqlite_code & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return store_errc::busy;
        case SQLITE_FULL:
            return store_errc::full;
        case SQLITE_IOERR:
        case SQLITE_CANTOPEN:
        case SQLITE_READONLY:
        case SQLITE_PERM:
            return store_errc::io;
        case SQLITE_CORRUPT:
        case SQLITE_NOTADB:
            return store_errc::corrupt;
        case SQLITE_TOOBIG:
        case SQLITE_RANGE:
        case SQLITE_MISMATCH:
            return store_errc::invalid_input;
        default:
            return store_errc::internal;
    }
}

}  // namespace fogbridge
