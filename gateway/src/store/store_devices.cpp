// The `devices` table: readings name their device by a small integer, so the unique index of
// `readings` compares integers. The names are cached in memory, both ways.

#include <fmt/format.h>

#include <algorithm>

#include "store/store_impl.hpp"

namespace fogbridge {

const std::string& device_cache::name(std::int64_t id) const {
    const auto index = static_cast<std::size_t>(id);
    if (id < 1 || index >= names.size() || names[index] == nullptr) {
        throw store_error(store_errc::corrupt, fmt::format("reading of unknown device id {}", id));
    }
    return *names[index];
}

std::int64_t device_cache::next_id() const {
    return static_cast<std::int64_t>(std::max<std::size_t>(names.size(), 1));
}

void device_cache::add(std::string name, std::int64_t id) {
    const auto index = static_cast<std::size_t>(id);
    if (index >= names.size()) {
        names.resize(index + 1);
    }
    names[index] = &ids.emplace(std::move(name), id).first->first;
}

void store::impl::load_devices() {
    sqlite::statement s(db, "SELECT id, name FROM devices");
    while (s.step()) {
        const std::int64_t id = s.column_int(0);
        if (id < 1) {
            throw store_error(store_errc::corrupt, fmt::format("device id {} is invalid", id));
        }
        devices.add(std::string(s.column_text(1)), id);
    }
}

std::vector<std::int64_t> store::impl::device_ids_of(const std::vector<reading>& readings,
                                                     std::vector<std::string>& added) {
    std::vector<std::int64_t> out;
    out.reserve(readings.size());
    std::unordered_map<std::string, std::int64_t> fresh;  // added by this call
    const std::string* last_name = nullptr;               // readings come in runs of one device
    std::int64_t last_id = 0;
    for (const reading& r : readings) {
        if (last_name == nullptr || *last_name != r.device) {
            if (const auto it = devices.ids.find(r.device); it != devices.ids.end()) {
                last_id = it->second;
            } else if (const auto f = fresh.find(r.device); f != fresh.end()) {
                last_id = f->second;
            } else {
                last_id = devices.next_id() + static_cast<std::int64_t>(added.size());
                const sqlite::reset_on_exit guard(st.insert_device);
                st.insert_device.bind_int(1, last_id);
                st.insert_device.bind_text(2, r.device);
                st.insert_device.run();
                fresh.emplace(r.device, last_id);
                added.push_back(r.device);
            }
            last_name = &r.device;
        }
        out.push_back(last_id);
    }
    return out;
}

void store::impl::add_devices(std::vector<std::string>& added) {
    for (std::string& name : added) {
        devices.add(std::move(name), devices.next_id());
    }
    added.clear();
}

}  // namespace fogbridge
