// fogbridge-filter-eval: replays recordings through the gateway's filter with the rules of a
// gateway config and prints what it keeps and how well the kept points rebuild the series.
// Exit codes: 0 done, 1 a recording could not be used, 2 bad command line or configuration.
#include <fmt/format.h>

#include <cstdio>
#include <cxxopts.hpp>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/log.hpp"
#include "config/config.hpp"
#include "filter_eval/evaluate.hpp"
#include "filter_eval/report.hpp"
#include "fogbridge/progress.hpp"
#include "fogbridge/recording.hpp"

namespace fogbridge {
namespace {

constexpr const char* program = "fogbridge-filter-eval";

struct usage_error final : std::runtime_error {
    using std::runtime_error::runtime_error;
};
struct data_error final : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct loaded {
    std::vector<eval_input> inputs;
    std::vector<std::string> notes;  // one line per recording
};

// A "time,value" CSV names its one channel after the file, as one without a header does, so
// temperature.csv meets the */temperature rule.
void name_plain_csv(recording& rec, const std::string& file) {
    if (rec.format == recording_format::csv && rec.channels.size() == 1 &&
        rec.channels.front().name == "value") {
        rec.channels.front().name = to_lower_snake(std::filesystem::path(file).stem().string());
    }
}

loaded read_recordings(const std::vector<std::string>& files, recording_format format) {
    loaded out;
    for (const auto& file : files) {
        recording rec = read_recording(file, format);
        if (!rec.errors.empty() && rec.errors.front().line == 0) {
            const auto& reason = rec.errors.front().reason;
            throw data_error(reason.find(file) == std::string::npos
                                 ? fmt::format("{}: {}", file, reason)
                                 : reason);
        }
        name_plain_csv(rec, file);
        if (rec.rows == 0) {
            throw data_error(fmt::format("{}: no data rows", file));
        }
        std::string note = fmt::format("{}: {}, {} rows", file, to_string(rec.format), rec.rows);
        if (rec.error_count > 0) {
            const auto& first = rec.errors.front();
            note += fmt::format(", {} rows skipped (line {}: {})", rec.error_count, first.line,
                                first.reason);
        }
        out.notes.push_back(std::move(note));
        for (const auto& c : rec.channels) {
            merge_input(out.inputs, to_eval_input(c));
        }
    }
    return out;
}

cxxopts::Options make_options() {
    cxxopts::Options options(program,
                             "Replays recordings through the gateway's significant-change filter");
    options.positional_help("RECORDING...");
    options.add_options()("c,config", "gateway configuration file (TOML); its [filter] rules apply",
                          cxxopts::value<std::string>())(
        "d,device", "device name of the replayed series (<device>/<channel>)",
        cxxopts::value<std::string>()->default_value("replay"))(
        "m,mode", "force every rule into deadband or swinging_door (E = the rule's deadband)",
        cxxopts::value<std::string>())(
        "f,format", "recording format: auto, occupancy, airquality or csv",
        cxxopts::value<std::string>()->default_value("auto"))("j,json", "print JSON")(
        "fewest",
        "also find the fewest readings any filter could keep within each rule's bound "
        "and heartbeat (slow on long series without a heartbeat)")("h,help", "show this help")(
        "recordings", "recording files", cxxopts::value<std::vector<std::string>>());
    options.parse_positional({"recordings"});
    return options;
}

eval_settings eval_options(const cxxopts::ParseResult& args) {
    eval_settings s;
    s.device = args["device"].as<std::string>();
    if (s.device.empty() || s.device.find('/') != std::string::npos) {
        throw usage_error(fmt::format("--device: '{}' must be non-empty without '/'", s.device));
    }
    if (args.count("mode") != 0U) {
        const auto mode = args["mode"].as<std::string>();
        s.force_mode = filter_mode_from_string(mode);
        if (!s.force_mode) {
            throw usage_error(fmt::format("--mode: '{}' is not deadband or swinging_door", mode));
        }
    }
    s.fewest_possible = args.count("fewest") != 0U;
    return s;
}

int run(int argc, char** argv) {
    auto options = make_options();
    const auto args = options.parse(argc, argv);
    if (args.count("help") != 0U) {
        fmt::print("{}\n", options.help());
        return 0;
    }
    if (args.count("config") == 0U || args.count("recordings") == 0U) {
        throw usage_error(
            "usage: --config FILE [--device NAME] [--mode MODE] [--fewest] [--json] "
            "RECORDING...");
    }
    const auto settings = eval_options(args);
    const auto format = parse_recording_format(args["format"].as<std::string>());
    if (!format) {
        throw usage_error(fmt::format("--format: '{}' is not auto, occupancy, airquality or csv",
                                      args["format"].as<std::string>()));
    }
    // Only the [filter] rules matter here: the loader's warnings about the rest (a plain-TCP
    // uplink, say) would be noise.
    log::set_level(log::level::error);
    const auto config =
        load_config(args["config"].as<std::string>(), process_env(), link_check::skipped);
    const auto data = read_recordings(args["recordings"].as<std::vector<std::string>>(), *format);

    std::size_t total = 0;
    for (const auto& in : data.inputs) {
        total += in.samples.size();
    }
    progress_line progress(fmt::format("{}: replay", program), total, terminal_drawer());
    const auto results =
        evaluate(config.filter, data.inputs, settings,
                 [&progress](std::size_t done, std::size_t /*total*/) { progress.update(done); });
    progress.finish();
    if (args.count("json") != 0U) {
        fmt::print("{}\n", format_json(results, settings.fewest_possible));
        return 0;
    }
    for (const auto& note : data.notes) {
        fmt::print("{}\n", note);
    }
    fmt::print("mode: {}\n", settings.force_mode
                                 ? fmt::format("{} for every rule", to_string(*settings.force_mode))
                                 : std::string("as configured"));
    fmt::print("{}", format_table(results, settings.fewest_possible));
    return 0;
}

}  // namespace
}  // namespace fogbridge

int main(int argc, char** argv) {
    using namespace fogbridge;
    try {
        return run(argc, argv);
    } catch (const config_error& e) {
        fmt::print(stderr, "{}: configuration: {}\n", program, e.what());
        return 2;
    } catch (const usage_error& e) {
        fmt::print(stderr, "{}: {}\n", program, e.what());
        return 2;
    } catch (const cxxopts::exceptions::exception& e) {
        fmt::print(stderr, "{}: {}\n", program, e.what());
        return 2;
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: {}\n", program, e.what());
        return 1;
    }
}
