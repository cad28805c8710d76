// fogbridge-sensor: example sensor board on the fogbridge device SDK.
#include <csignal>
#include <exception>
#include <iostream>
#include <stdexcept>

#include "options.hpp"
#include "run.hpp"

namespace {

extern "C" void on_signal(int /*signal*/) { fogbridge::sensor::stop_signal = 1; }

}  // namespace

int main(int argc, char** argv) {
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    try {
        const auto options = fogbridge::sensor::parse_options(argc, argv);
        if (!options) {
            return 0;
        }
        return fogbridge::sensor::run_sensor(*options);
    } catch (const std::invalid_argument& e) {
        std::cerr << "fogbridge-sensor: " << e.what() << " (see --help)\n";
        return 2;
    } catch (const std::exception& e) {
        std::cerr << "fogbridge-sensor: " << e.what() << '\n';
        return 1;
    }
}
