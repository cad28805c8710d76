// Expiry of an X.509 certificate (PEM), for the health payload and the metrics page. Pure apart
// from reading the file; thread-safe.
#pragma once

#include <filesystem>
#include <optional>
#include <string_view>

namespace fogbridge {

// notAfter of the first certificate in `pem`, in seconds since the epoch; std::nullopt when the
// text holds no readable certificate.
std::optional<double> certificate_not_after(std::string_view pem);
// The same for a file; std::nullopt when it cannot be read.
std::optional<double> certificate_file_not_after(const std::filesystem::path& path);
// Days from `now` (seconds since the epoch) until `not_after`; negative once expired.
double days_until(double not_after, double now);

}  // namespace fogbridge
