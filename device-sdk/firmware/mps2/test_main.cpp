// Runs the portable core's doctest suite on the emulated board; output and exit code go to the
// host through semihosting (newlib's rdimon).
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

extern "C" void initialise_monitor_handles();

int main() {
    initialise_monitor_handles();
    doctest::Context context;
    context.setOption("no-colors", true);
    return context.run();
}
