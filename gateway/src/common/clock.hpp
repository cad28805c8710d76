// The gateway's clocks behind one interface: a monotonic one that drives every timer and the wall
// clock, read only where a timestamp is written. Tests pass a manual_clock. Thread-safe, except
// manual_clock, whose owner drives it from one thread.
#pragma once

#include <chrono>

namespace fogbridge {

using mono_clock = std::chrono::steady_clock;
using mono_time = mono_clock::time_point;

// One reading of both clocks: `mono` for deadlines and ages, `wall` (seconds since the epoch)
// only for what is stored or sent as a timestamp.
struct instant {
    mono_time mono{};
    double wall = 0;
};

class clock_source {
  public:
    virtual ~clock_source() = default;
    virtual instant now() const = 0;
};

// steady_clock and system_clock.
class system_clock_source final : public clock_source {
  public:
    instant now() const override {
        using namespace std::chrono;
        return {steady_clock::now(),
                duration<double>(system_clock::now().time_since_epoch()).count()};
    }
};

// The process-wide system clock.
inline const clock_source& system_clock() {
    static const system_clock_source c;
    return c;
}
inline double wall_seconds() { return system_clock().now().wall; }

// Seconds as a mono_clock duration.
inline mono_clock::duration mono_seconds(double s) {
    return std::chrono::duration_cast<mono_clock::duration>(std::chrono::duration<double>(s));
}
inline double to_seconds(mono_clock::duration d) {
    return std::chrono::duration<double>(d).count();
}

// A clock that moves only when told: wall steps leave the monotonic reading alone.
class manual_clock final : public clock_source {
  public:
    explicit manual_clock(double wall = 1.7e9) : now_{mono_time{} + std::chrono::hours(1), wall} {}
    instant now() const override { return now_; }
    void advance(double s) {
        now_.mono += mono_seconds(s);
        now_.wall += s;
    }
    void step_wall(double s) { now_.wall += s; }

  private:
    instant now_;
};

}  // namespace fogbridge
