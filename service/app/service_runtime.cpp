#include "app/service_runtime.h"

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "config/validator.h"
#include "core/engine.h"
#include "core/snapshot.h"
#include "logging/log.h"

namespace proxy::app {

struct ServiceRuntime::Impl {
    Options options;
    std::unique_ptr<core::Engine> engine;
    std::shared_ptr<const config::Config> config;
    std::uint64_t version = 0;

    // The control thread: reloads and (later) the control channel run here, never on a worker.
    asio::io_context control;
    std::optional<asio::executor_work_guard<asio::io_context::executor_type>> controlWork;
    std::thread controlThread;

    std::mutex mutex;
    std::condition_variable stopRequested;
    bool stopping = false;
    bool started = false;

    void reload();
};

ServiceRuntime::ServiceRuntime(Options options) : impl_(std::make_unique<Impl>()) {
    impl_->options = std::move(options);
}

ServiceRuntime::~ServiceRuntime() {
    if (impl_->started) {
        requestStop();
        wait();
    }
}

std::optional<std::string> ServiceRuntime::start() {
    Impl& d = *impl_;
    auto loaded = config::loadConfigFile(d.options.configPath);
    for (const auto& diagnostic : loaded.diagnostics)
        logging::log(diagnostic.severity == config::Diagnostic::Severity::Error ? logging::Level::Error
                                                                               : logging::Level::Warn,
                     "%s: %s", d.options.configPath.c_str(), diagnostic.toString().c_str());
    if (!loaded.ok()) return "the configuration in " + d.options.configPath + " is invalid";
    d.config = loaded.config;
    logging::setLevel(logging::parseLevel(d.config->logging.level));
    d.engine = std::make_unique<core::Engine>(d.config->workers);
    auto snapshot = core::buildSnapshot(d.config, ++d.version, d.engine->workerCount());
    if (!snapshot) return snapshot.error();
    if (auto error = d.engine->start(*snapshot)) return error;
    d.controlWork.emplace(asio::make_work_guard(d.control));
    d.controlThread = std::thread([&d] { d.control.run(); });
    d.started = true;
    std::string where;
    for (const auto& l : d.config->listeners) where += " " + l.name + "=" + l.address.toString();
    logging::log(logging::Level::Info, "started: %u worker(s), config version %llu, listeners:%s",
                 d.engine->workerCount(), static_cast<unsigned long long>(d.version), where.c_str());
    return std::nullopt;
}

void ServiceRuntime::requestStop() {
    std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
    impl_->stopRequested.notify_all();
}

void ServiceRuntime::requestReload() {
    Impl* d = impl_.get();
    if (!d->started) return;
    asio::post(d->control, [d] { d->reload(); });
}

void ServiceRuntime::Impl::reload() {
    auto loaded = config::loadConfigFile(options.configPath);
    if (!loaded.ok()) {
        for (const auto& diagnostic : loaded.diagnostics)
            logging::log(logging::Level::Error, "reload: %s", diagnostic.toString().c_str());
        logging::log(logging::Level::Error, "reload refused: %s is invalid; the running config stays",
                     options.configPath.c_str());
        return;
    }
    auto snapshot = core::buildSnapshot(loaded.config, version + 1, engine->workerCount());
    if (!snapshot) {
        logging::log(logging::Level::Error, "reload refused: %s", snapshot.error().c_str());
        return;
    }
    if (auto error = engine->apply(*snapshot)) {
        logging::log(logging::Level::Error, "reload refused: %s", error->c_str());
        return;
    }
    ++version;
    config = loaded.config;
    logging::setLevel(logging::parseLevel(config->logging.level));
    logging::log(logging::Level::Info, "config reloaded: version %llu", static_cast<unsigned long long>(version));
}

int ServiceRuntime::wait() {
    Impl& d = *impl_;
    if (!d.started) return 1;
    {
        std::unique_lock lock(d.mutex);
        d.stopRequested.wait(lock, [&] { return d.stopping; });
    }
    logging::log(logging::Level::Info, "stopping: draining in-flight requests (up to %lld ms)",
                 static_cast<long long>(d.config->timeouts.shutdown.count()));
    // Reverse order of start: no more reloads, then the data plane drains and stops.
    d.controlWork.reset();
    d.control.stop();
    if (d.controlThread.joinable()) d.controlThread.join();
    d.engine->stop(d.config->timeouts.shutdown);
    d.started = false;
    logging::log(logging::Level::Info, "stopped");
    return 0;
}

}  // namespace proxy::app
