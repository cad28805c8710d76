// mqtt_transport over libmosquitto, driven by the caller's thread with mosquitto_loop(); a new
// mosquitto instance per connection, so nothing the library queued outlives its connection.
#include <mosquitto.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "fogbridge/mqtt_transport.hpp"

namespace fogbridge {
namespace {

void init_library_once() {
    static std::once_flag once;
    std::call_once(once, [] { mosquitto_lib_init(); });
}

std::string error_text(int rc) {
    if (rc == MOSQ_ERR_ERRNO) {
        return std::strerror(errno);
    }
    return mosquitto_strerror(rc);
}

class mosquitto_transport final : public mqtt_transport {
  public:
    mosquitto_transport() : wake_fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
        if (wake_fd_ < 0) {
            throw std::runtime_error(std::string("mqtt: cannot create an eventfd: ") +
                                     std::strerror(errno));
        }
        init_library_once();
    }

    ~mosquitto_transport() override {
        drop_instance();
        ::close(wake_fd_);
    }

    mosquitto_transport(const mosquitto_transport&) = delete;
    mosquitto_transport& operator=(const mosquitto_transport&) = delete;

    void set_events(mqtt_transport_events* events) override { events_ = events; }

    // OpenSSL asks for an encrypted key's passphrase; without this it would prompt on a terminal.
    static int on_key_passphrase(char* buf, int size, int /*rwflag*/, void* client) {
        const auto* self = static_cast<const mosquitto_transport*>(
            mosquitto_userdata(static_cast<mosquitto*>(client)));
        if (self == nullptr || size <= 0) {
            return 0;
        }
        const auto& p = self->passphrase_;
        const auto n = std::min(p.size(), static_cast<std::size_t>(size - 1));
        std::memcpy(buf, p.data(), n);
        buf[n] = '\0';
        return static_cast<int>(n);
    }

    std::string connect(const mqtt_connect_options& o) override {
        drop_instance();
        connack_ = false;
        mosq_ = mosquitto_new(o.client_id.c_str(), true, this);
        if (mosq_ == nullptr) {
            return std::string("mosquitto_new: ") + std::strerror(errno);
        }
        mosquitto_connect_callback_set(mosq_, &on_connect_cb);
        mosquitto_message_callback_set(mosq_, &on_message_cb);
        mosquitto_publish_callback_set(mosq_, &on_publish_cb);
        mosquitto_int_option(mosq_, MOSQ_OPT_TCP_NODELAY, 1);
        int rc = MOSQ_ERR_SUCCESS;
        if (o.will) {
            const auto& w = *o.will;
            rc = mosquitto_will_set(mosq_, w.topic.c_str(), static_cast<int>(w.payload.size()),
                                    w.payload.data(), w.qos, w.retain);
            if (rc != MOSQ_ERR_SUCCESS) {
                return "will: " + error_text(rc);
            }
        }
        if (o.tls.enabled()) {
            const char* cert = o.tls.cert_file.empty() ? nullptr : o.tls.cert_file.c_str();
            const char* key = o.tls.key_file.empty() ? nullptr : o.tls.key_file.c_str();
            passphrase_ = o.tls.key_passphrase;
            rc = mosquitto_tls_set(mosq_, o.tls.ca_file.c_str(), nullptr, cert, key,
                                   &on_key_passphrase);
            if (rc == MOSQ_ERR_SUCCESS) {
                rc = mosquitto_tls_opts_set(mosq_, 1, nullptr, nullptr);  // verify the peer
            }
            if (rc == MOSQ_ERR_SUCCESS) {
                rc = mosquitto_tls_insecure_set(mosq_, false);  // and its host name
            }
            if (rc != MOSQ_ERR_SUCCESS) {
                return "tls: " + error_text(rc);
            }
        }
        rc = mosquitto_connect_async(mosq_, o.host.c_str(), o.port,
                                     static_cast<int>(o.keepalive.count()));
        if (rc != MOSQ_ERR_SUCCESS) {
            return error_text(rc);
        }
        return {};
    }

    bool run_once(std::chrono::milliseconds max_wait) override {
        const int sock = mosq_ != nullptr ? mosquitto_socket(mosq_) : -1;
        std::array<pollfd, 2> fds{{{wake_fd_, POLLIN, 0}, {sock, POLLIN, 0}}};
        if (sock >= 0 && mosquitto_want_write(mosq_)) {
            fds[1].events = static_cast<short>(POLLIN | POLLOUT);
        }
        // Only a hint to sleep until something may be ready; mosquitto_loop checks for itself.
        ::poll(fds.data(), sock >= 0 ? 2 : 1, static_cast<int>(max_wait.count()));
        if ((fds[0].revents & POLLIN) != 0) {
            eventfd_t ignored = 0;
            ::eventfd_read(wake_fd_, &ignored);
        }
        if (sock < 0) {
            last_error_ = "not connected";
            return false;
        }
        const int rc = mosquitto_loop(mosq_, 0, 1);
        if (rc != MOSQ_ERR_SUCCESS) {
            last_error_ = error_text(rc);
            return false;
        }
        if (!connack_ && (fds[1].revents & POLLHUP) != 0) {
            // A hung-up socket never brings a CONNACK. With TLS, libmosquitto 2.0.11 keeps
            // retrying the handshake on it until our connect timeout instead of failing.
            int error = 0;
            socklen_t size = sizeof error;
            ::getsockopt(sock, SOL_SOCKET, SO_ERROR, &error, &size);
            last_error_ =
                error != 0 ? std::strerror(error) : "connection refused or closed before CONNACK";
            return false;
        }
        return true;
    }

    std::string last_error() const override { return last_error_; }

    std::optional<int> publish(const mqtt_message& m) override {
        if (mosq_ == nullptr) {
            return std::nullopt;
        }
        int mid = 0;
        const int rc =
            mosquitto_publish(mosq_, &mid, m.topic.c_str(), static_cast<int>(m.payload.size()),
                              m.payload.data(), m.qos, m.retain);
        if (rc != MOSQ_ERR_SUCCESS) {
            return std::nullopt;
        }
        return mid;
    }

    bool subscribe(const std::string& topic, int qos) override {
        return mosq_ != nullptr &&
               mosquitto_subscribe(mosq_, nullptr, topic.c_str(), qos) == MOSQ_ERR_SUCCESS;
    }

    void disconnect() override {
        if (mosq_ != nullptr) {
            mosquitto_disconnect(mosq_);
        }
    }

    void wake() override { ::eventfd_write(wake_fd_, 1); }

  private:
    static mosquitto_transport& self(void* userdata) {
        return *static_cast<mosquitto_transport*>(userdata);
    }

    // No exception may unwind through libmosquitto's C frames.
    template <class F>
    static void guarded(void* userdata, F&& f) noexcept {
        auto& t = self(userdata);
        if (t.events_ == nullptr) {
            return;
        }
        try {
            f(*t.events_);
        } catch (...) {
            t.last_error_ = "an event handler threw";
        }
    }

    static void on_connect_cb(mosquitto* /*mosq*/, void* userdata, int rc) {
        self(userdata).connack_ = true;
        guarded(userdata, [rc](mqtt_transport_events& e) {
            e.on_connect(rc == 0, rc == 0 ? "" : mosquitto_connack_string(rc));
        });
    }

    static void on_message_cb(mosquitto* /*mosq*/, void* userdata, const mosquitto_message* m) {
        if (m == nullptr || m->topic == nullptr) {
            return;
        }
        guarded(userdata, [m](mqtt_transport_events& e) {
            const auto* bytes = static_cast<const char*>(m->payload);
            e.on_message(m->topic, std::string_view(bytes != nullptr ? bytes : "",
                                                    static_cast<std::size_t>(m->payloadlen)));
        });
    }

    static void on_publish_cb(mosquitto* /*mosq*/, void* userdata, int mid) {
        guarded(userdata, [mid](mqtt_transport_events& e) { e.on_published(mid); });
    }

    void drop_instance() {
        if (mosq_ != nullptr) {
            mosquitto_destroy(mosq_);
            mosq_ = nullptr;
        }
    }

    int wake_fd_;
    mosquitto* mosq_ = nullptr;
    mqtt_transport_events* events_ = nullptr;
    std::string passphrase_;
    std::string last_error_;
    bool connack_ = false;  // a CONNACK came on this connection
};

}  // namespace

std::unique_ptr<mqtt_transport> make_mosquitto_transport() {
    return std::make_unique<mosquitto_transport>();
}

}  // namespace fogbridge
